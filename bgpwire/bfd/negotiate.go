package bfd

import (
	"math/bits"
	"time"
)

// Timer negotiation (RFC 5880 §6.8.2 to §6.8.4, §6.8.7), Poll Sequences
// (§6.5, §6.8.3) and the Echo function's timing (§6.8.9), for Machine.

// targets are the intervals to advertise: the profile's, the transmit one
// at least 1 s while not Up (§6.8.3) and the receive one at least 1 s
// while Echo is active (§6.8.3, SHOULD).
func (m *Machine) targets() (tx, rx uint32) {
	tx, rx = millis(m.cfg.Profile.TransmitInterval), millis(m.cfg.Profile.ReceiveInterval)
	if m.state != Up {
		tx = max(tx, slowInterval)
	}
	if m.echoActive {
		rx = max(rx, slowInterval)
	}
	return tx, rx
}

// updateParams sets the advertised intervals. While Up a change starts a
// Poll Sequence and the §6.8.3 restrictions apply until its Final; in any
// other state a change takes effect at once (no Detection Time the peer
// runs on us can be cut short by it) and no Poll Sequence runs.
func (m *Machine) updateParams() {
	tx, rx := m.targets()
	if m.state != Up {
		m.desiredTx, m.requiredRx = tx, rx
		m.holdTx, m.holdRx = tx, rx
		m.polling, m.repoll = false, false
		return
	}
	if tx == m.desiredTx && rx == m.requiredRx {
		return
	}
	m.desiredTx, m.requiredRx = tx, rx
	if !m.polling {
		m.startPoll()
	}
	// While polling, the new values ride the same Poll Sequence; if
	// packets with different values go out, endPoll polls again.
}

func (m *Machine) startPoll() {
	m.polling = true
	m.pollTx, m.pollRx = ^uint32(0), 0
	m.c.Polls++
}

func (m *Machine) endPoll() {
	m.polling = false
	m.holdTx, m.holdRx = m.pollTx, m.pollRx
	m.repoll = m.holdTx != m.desiredTx || m.holdRx != m.requiredRx
	m.c.Finals++
}

// sentIntervals records what a packet told the peer (see holdTx).
func (m *Machine) sentIntervals(tx, rx uint32) {
	m.holdTx, m.holdRx = min(m.holdTx, tx), max(m.holdRx, rx)
	if m.polling {
		m.pollTx, m.pollRx = min(m.pollTx, tx), max(m.pollRx, rx)
	}
}

// effectiveTx is the bfd.DesiredMinTxInterval the transmit interval uses:
// an increase waits until the peer has it.
func (m *Machine) effectiveTx() uint32 { return min(m.desiredTx, m.holdTx) }

// effectiveRx is the bfd.RequiredMinRxInterval the Detection Time uses: a
// decrease waits until the peer has it.
func (m *Machine) effectiveRx() uint32 { return max(m.requiredRx, m.holdRx) }

// transmitInterval is §6.8.7's: the larger of the two, before jitter.
func (m *Machine) transmitInterval() time.Duration {
	return Micros(max(m.effectiveTx(), m.remoteMinRx))
}

// detectionTime is §6.8.4's for Asynchronous mode: the remote's Detect
// Mult times the larger of bfd.RequiredMinRxInterval and the remote's last
// Desired Min TX Interval.
func (m *Machine) detectionTime() time.Duration {
	return time.Duration(m.remoteDetectMult) * Micros(max(m.effectiveRx(), m.remoteDesiredTx))
}

func (m *Machine) canTransmit() bool {
	return m.enabled && !(m.cfg.Profile.PassiveMode && m.remoteDiscr == 0)
}

func (m *Machine) remoteDemandActive() bool {
	return m.remoteDemand && m.state == Up && m.remoteState == Up
}

// periodicAllowed is §6.8.7: not passive before the remote is known, not
// when the remote asked for no packets (Required Min RX 0), not while the
// remote is in Demand mode and no Poll Sequence runs.
func (m *Machine) periodicAllowed() bool {
	return m.canTransmit() && m.remoteMinRx != 0 && (!m.remoteDemandActive() || m.polling)
}

func (m *Machine) armTransmit(sentNow bool) {
	if !m.periodicAllowed() {
		m.stopTimer(TransmitTimer)
		return
	}
	iv := m.transmitInterval()
	switch {
	case sentNow || m.timers[TransmitTimer] == 0:
		m.startTimer(TransmitTimer, m.jitter(iv))
	case iv < m.txArmed:
		// §6.8.3: a shorter interval counts from the last packet, and if
		// it has passed already the next packet goes now.
		if wait := m.lastSent + m.jitter(iv) - m.now; wait > 0 {
			m.startTimer(TransmitTimer, wait)
		} else {
			m.send(false)
			m.startTimer(TransmitTimer, m.jitter(iv))
		}
	default:
		return
	}
	m.txArmed = iv
}

func (m *Machine) echoWanted() bool { return m.cfg.EchoCapable && m.cfg.Profile.EchoMode }

func (m *Machine) advertisedEchoRx() uint32 {
	if m.echoWanted() {
		return millis(m.cfg.Profile.EchoInterval)
	}
	return 0
}

// echoInterval is ours, but never shorter than the remote accepts (§6.8.9).
func (m *Machine) echoInterval() time.Duration {
	return Micros(max(millis(m.cfg.Profile.EchoInterval), m.remoteEchoRx))
}

// echoDetectionTime is the local Detect Mult times the Echo interval: how
// the loss of Echo packets is timed is left to implementations (§6.8.5).
func (m *Machine) echoDetectionTime() time.Duration {
	return time.Duration(m.cfg.Profile.DetectMultiplier) * m.echoInterval()
}

// updateEcho starts and stops the Echo function: it runs while Up when
// wanted and the remote advertises a nonzero Required Min Echo RX (§6.8.9).
func (m *Machine) updateEcho() {
	active := m.echoWanted() && m.state == Up && m.remoteEchoRx != 0
	switch {
	case !active:
		if m.echoActive {
			m.stopTimer(EchoTransmitTimer)
			m.stopTimer(EchoDetectTimer)
		}
		m.echoActive = false
	case !m.echoActive:
		m.echoActive = true
		m.echoArmed, m.lastEcho = m.echoInterval(), m.now
		m.startTimer(EchoTransmitTimer, m.jitter(m.echoArmed))
		m.startTimer(EchoDetectTimer, m.echoDetectionTime())
	default:
		if iv := m.echoInterval(); iv < m.echoArmed {
			m.echoArmed = iv
			if wait := m.lastEcho + m.jitter(iv) - m.now; wait > 0 {
				m.startTimer(EchoTransmitTimer, wait)
			} else {
				m.sendEcho()
				m.startTimer(EchoTransmitTimer, m.jitter(iv))
			}
		}
	}
}

func (m *Machine) sendEcho() {
	m.out = append(m.out, Action{Kind: SendEcho})
	m.lastEcho = m.now
	m.c.EchoOut++
}

// jitter applies §6.8.7's jitter to a control or Echo interval. Echo uses
// the same rule: with a multiplier of 1 an echo at 100% of the interval
// would race the Echo detection timer.
func (m *Machine) jitter(iv time.Duration) time.Duration {
	return Jitter(iv, uint8(m.cfg.Profile.DetectMultiplier), m.nextRand())
}

// nextRand gives every timer armed in one step its own rotation of the
// event's random value: uniform if it is, and 0 for every timer if it is 0
// (which keeps transcripts readable).
func (m *Machine) nextRand() uint32 {
	r := bits.RotateLeft32(m.rand, 11*m.randUses)
	m.randUses++
	return r
}
