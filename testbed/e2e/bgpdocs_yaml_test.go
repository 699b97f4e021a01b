package e2e

// The BGP examples of the documentation MetalLB users read, as the pages
// write them (only the indentation of the YAML is made regular where the
// page's rendering lost it). The tests apply them with kubectl unchanged and
// add what an example leaves out: the BGPPeer towards the lab's router, the
// Services, the node labels.

// From OKD, "Advertising the IP address pools", "Configure MetalLB with a
// BGP advertisement and a basic use case".
const (
	okdBasicPool = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  namespace: metallb-system
  name: doc-example-bgp-basic
spec:
  addresses:
    - 203.0.113.200/30
    - fc00:f853:ccd:e799::/124
`
	okdBasicAdvertisement = `apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: bgpadvertisement-basic
  namespace: metallb-system
spec:
  ipAddressPools:
  - doc-example-bgp-basic
`
)

// From the same page, "Configuring MetalLB with a BGP advertisement and an
// advanced use case".
const (
	okdAdvancedPool = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  namespace: metallb-system
  name: doc-example-bgp-adv
  labels:
    zone: east
spec:
  addresses:
    - 203.0.113.200/30
    - fc00:f853:ccd:e799::/124
  autoAssign: false
`
	okdAdvancedAdvertisement1 = `apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: bgpadvertisement-adv-1
  namespace: metallb-system
spec:
  ipAddressPools:
    - doc-example-bgp-adv
  communities:
    - 65535:65282
  aggregationLength: 32
  localPref: 100
`
	okdAdvancedAdvertisement2 = `apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: bgpadvertisement-adv-2
  namespace: metallb-system
spec:
  ipAddressPools:
    - doc-example-bgp-adv
  communities:
    - 8000:800
  aggregationLength: 30
  aggregationLengthV6: 124
`
)

// From the same page, "Advertising an IP address pool from a subset of
// nodes": the advertisement has no namespace and spells the field
// nodeSelector (MetalLB's is nodeSelectors); Herald accepts both.
const (
	okdNodeSubsetPool = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  namespace: metallb-system
  name: pool1
spec:
  addresses:
    - 4.4.4.100-4.4.4.200
    - 2001:100:4::200-2001:100:4::400
`
	okdNodeSubsetAdvertisement = `apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: example
spec:
  ipAddressPools:
  - pool1
  nodeSelector:
  - matchLabels:
      kubernetes.io/hostname: NodeA
  - matchLabels:
      kubernetes.io/hostname: NodeB
`
)

// From the Red Hat blog "Advanced MetalLB configuration", "Announcing the
// service only to a subset of peers". The blog names the objects PoolA,
// PeerA and PeerB, which no Kubernetes object can be called (names are
// lower case): the test names them pool-a, peer-a and peer-b, as
// examples/11 does, and changes nothing else.
const blogPeerSubsetAdvertisement = `apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
   name: example
   namespace: metallb-system
spec:
   ipAddressPools:
   - pool-a
   peers:
   - peer-a
   - peer-b
`

// From the blog, "Establishing the BGP session from a subset of nodes": the
// peer on port 180, only from nodes labelled rack=frontend. The test points
// peerAddress at the lab's router, whose BGP listens on 180.
const blogSessionSubsetPeer = `apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
   name: example
   namespace: metallb-system
spec:
   myASN: 64512
   peerASN: 64512
   peerAddress: %s
   peerPort: 180
   nodeSelectors:
   - matchLabels:
       rack: frontend
`

// From the blog, "Announcing the service from a subset of the nodes" (the
// page ran "first-pool", "nodeSelectors:", "matchLabels:" and
// "role: serviceAdvertiser" into one line; this is its evident shape, as in
// examples/12).
const blogNodeSubsetAdvertisement = `apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: advertisement
  namespace: metallb-system
spec:
  aggregationLength: 32
  aggregationLengthV6: 128
  ipAddressPools:
  - first-pool
  nodeSelectors:
  - matchLabels:
      role: serviceAdvertiser
`

// From the blog, the IPAddressPool allocated by namespace, for "announcing
// the services belonging to a namespace only via a specific BGP session"
// (the blog's list of combinations; the namespaces list form of its
// serviceAllocation example, with the indentation the page lost).
const blogNamespacePool = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
   name: ippool-ns-service-alloc-sample
   namespace: metallb-system
spec:
  addresses:
    - 192.168.20.0/24
  serviceAllocation:
    priority: 50
    namespaces:
    - namespace-a
    - namespace-b
`

// From the blog, the BGPAdvertisement without fields: every pool to every
// peer.
const blogEmptyAdvertisement = `apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: empty
  namespace: metallb-system
`

// From the platform guide's BGP mode: its pool and its advertisement (its
// BGPPeer is for another network).
const (
	guideDefaultPool = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: default-pool
  namespace: metallb-system
spec:
  addresses:
  - 192.168.12.100-192.168.12.120
`
	guideDefaultAdvertisement = `apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: default
  namespace: metallb-system
spec:
  ipAddressPools:
  - default-pool
`
)
