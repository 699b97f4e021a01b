package bfd

import (
	"math/bits"
	"time"
)

// Jitter is the delay to arm a periodic transmission with (§6.8.7): the
// negotiated interval reduced by a random 0 to 25%, or by 10 to 25% when
// detectMult is 1, so that the remote's Detection Time (one interval)
// cannot pass before the next packet. r is a uniform random value; the
// reduction grows with it (r = 0: the full interval, or 90% of it).
// The Echo function uses the same rule (§6.8.9 allows 75% to 100%).
func Jitter(interval time.Duration, detectMult uint8, r uint32) time.Duration {
	if interval <= 0 {
		return interval
	}
	i := uint64(interval)
	var reduction uint64
	if detectMult == 1 {
		reduction = i/10 + scale(i*15/100, r)
	} else {
		reduction = scale(i/4, r)
	}
	return time.Duration(i - reduction)
}

// scale is span·r/2³², in [0, span).
func scale(span uint64, r uint32) uint64 {
	hi, lo := bits.Mul64(span, uint64(r))
	return hi<<32 | lo>>32
}
