package output

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/martech/eventfwd/services/dlq/internal/replay"
)

// Progress reports a long run on stderr: on a terminal a bar with a count and an ETA redrawn in
// place, otherwise a plain line every few seconds (logs and CI keep readable lines).
type Progress struct {
	w     io.Writer
	tty   bool
	label string
	total int64
	now   func() time.Time
	start time.Time
	last  time.Time
	every time.Duration
	drawn bool
	// recent holds (time, done) about once a second over the last speedWindow: the speed and ETA
	// follow the current pace (a replay that skips fast, then sends at --rate, is not 60/s).
	recent []mark
}

type mark struct {
	at         time.Time
	done, sent int64
}

const speedWindow = 30 * time.Second

// NewProgress reports on w; tty says whether w is a terminal. total is the work in records.
func NewProgress(w io.Writer, tty bool, label string, total int64, now func() time.Time) *Progress {
	every := 5 * time.Second
	if tty {
		every = 100 * time.Millisecond
	}
	t := now()
	return &Progress{w: w, tty: tty, label: label, total: total, now: now, start: t, every: every,
		recent: []mark{{at: t}}}
}

// Update reports done offsets looked at of the total, and what was done with the records:
// selected (by the filters), sent, held back (or capped). The speed is of sends; the ETA
// follows the records looked at. It draws at most every so often.
func (p *Progress) Update(done int64, c replay.Counts) {
	t := p.now()
	if t.Sub(p.recent[len(p.recent)-1].at) >= time.Second {
		p.recent = append(p.recent, mark{at: t, done: done, sent: c.Sent})
	}
	for len(p.recent) > 1 && t.Sub(p.recent[1].at) >= speedWindow {
		p.recent = p.recent[1:]
	}
	if t.Sub(p.last) < p.every && done < p.total {
		return
	}
	p.last = t
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(done) / float64(p.total)
	}
	sendRate, eta := "", "?"
	from := p.recent[0]
	if s := t.Sub(from.at).Seconds(); s > 0 {
		sendRate = fmt.Sprintf(" (%.0f/s)", float64(c.Sent-from.sent)/s)
		if done > from.done {
			perSec := float64(done-from.done) / s
			eta = time.Duration(float64(p.total-done) / perSec * float64(time.Second)).Round(time.Second).String()
		}
	}
	what := fmt.Sprintf("looked at %d/%d", done, p.total)
	counts := fmt.Sprintf(", selected %d, sent %d%s", c.Looked-c.Unmatched, c.Sent, sendRate)
	if held := c.HeldInvalid + c.HeldOld + c.HeldTooLarge; held > 0 {
		counts += fmt.Sprintf(", held back %d", held)
	}
	if c.Capped > 0 {
		counts += fmt.Sprintf(", capped %d", c.Capped)
	}
	if p.tty {
		const width = 30
		fill := int(pct / 100 * width)
		fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%% %s%s, ETA %s \x1b[K", p.label,
			strings.Repeat("#", fill), strings.Repeat(".", width-fill), pct, what, counts, eta)
		p.drawn = true
		return
	}
	fmt.Fprintf(p.w, "%s: %s (%.0f%%)%s, ETA %s\n", p.label, what, pct, counts, eta)
}

// Done ends the bar's line on a terminal.
func (p *Progress) Done() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}
