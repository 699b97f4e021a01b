// Package informers turns the Kubernetes API into level-triggered keys for
// Herald's actors. It runs one SharedInformerFactory per clientset,
// transforms objects into slim immutable snapshots (API structs never travel
// past this package), and its event handlers never block: they hand a key to
// a router actor, which re-reads the lister. Objects from a lister are never
// mutated.
package informers
