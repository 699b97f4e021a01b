package bgpwire

// PathLength is the AS path length used by route selection (RFC 4271
// §9.1.2.2 a, RFC 5065 §5.3): an AS_SEQUENCE counts its ASNs, an AS_SET
// counts 1, confederation segments count 0.
func PathLength(segs []ASSegment) int {
	n := 0
	for _, s := range segs {
		switch s.Type {
		case ASSequence:
			n += len(s.ASNs)
		case ASSet:
			n++
		}
	}
	return n
}

// MergedASPath returns the AS path of a route received from a peer without
// 4-octet AS support, reconstructed from AS_PATH and AS4_PATH as RFC 6793
// §4.2.3 describes, appended to dst. From a 4-octet peer, or without
// AS4_PATH, it is AS_PATH. The segments share the ASN storage of a, so they
// are valid as long as a is.
func (a *Attributes) MergedASPath(dst []ASSegment) []ASSegment {
	// An AGGREGATOR that is not AS_TRANS means a 2-octet speaker
	// aggregated after the AS4_PATH was formed, so AS4_PATH is stale.
	stale := a.HasAggregator && a.Aggregator.AS != ASTrans
	if len(a.AS4Path) == 0 || stale {
		return append(dst, a.ASPath...)
	}
	keep := PathLength(a.ASPath) - PathLength(a.AS4Path)
	if keep < 0 {
		return append(dst, a.ASPath...) // AS4_PATH is longer: ignore it
	}
	// The leading `keep` ASNs of AS_PATH, then all of AS4_PATH.
	for _, s := range a.ASPath {
		if keep == 0 {
			break
		}
		switch s.Type {
		case ASSequence:
			k := min(keep, len(s.ASNs))
			dst = append(dst, ASSegment{Type: s.Type, ASNs: s.ASNs[:k:k]})
			keep -= k
		case ASSet:
			dst = append(dst, s)
			keep--
		default:
			dst = append(dst, s) // confederation segments count nothing
		}
	}
	return append(dst, a.AS4Path...)
}

// MergedAggregator returns the aggregator of a route from a peer without
// 4-octet AS support: AS4_AGGREGATOR when AGGREGATOR carries AS_TRANS (RFC
// 6793 §4.2.3), else AGGREGATOR. ok is false when there is none.
func (a *Attributes) MergedAggregator() (ag Aggregator, ok bool) {
	if !a.HasAggregator {
		return Aggregator{}, false
	}
	if a.Aggregator.AS == ASTrans && a.HasAS4Aggregator {
		return a.AS4Aggregator, true
	}
	return a.Aggregator, true
}
