package main

import (
	"fmt"
	"github.com/cofswitch/cofswitch/switch/statuspage"
	"io"
	"os"
	"time"
)

// importProgress reports a long import: on a terminal a line redrawn at
// most 4 times a second, otherwise a log line every interval, both with
// records, the rate, the share of the input read and the time left.
type importProgress struct {
	w        io.Writer
	term     bool
	interval time.Duration
	total    int64 // bytes of every input, as stored
	doneB    int64 // bytes of the inputs finished
	start    time.Time
	last     time.Time
}

func newImportProgress(w io.Writer, files []string) *importProgress {
	p := &importProgress{w: w, term: isTerminal(w), interval: 10 * time.Second, start: time.Now()}
	p.last = p.start
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			p.total += st.Size()
		}
	}
	return p
}

// update reports records merged in all, and read bytes of the file in hand.
func (p *importProgress) update(records int, read int64) {
	every := p.interval
	if p.term {
		every = 250 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	line := progressLine(records, p.doneB+read, p.total, time.Since(p.start))
	if p.term {
		fmt.Fprintf(p.w, "\r%s  ", line)
	} else {
		fmt.Fprintln(p.w, "db import:", line)
	}
}

// fileDone moves a finished file's bytes to the done side.
func (p *importProgress) fileDone(size int64) { p.doneB += size }

func (p *importProgress) done() {
	if p.term && p.last != p.start {
		fmt.Fprintln(p.w)
	}
}

// progressLine is "N records, R/s, P% of SIZE, ETA D".
func progressLine(records int, read, total int64, elapsed time.Duration) string {
	rate := float64(records) / max(elapsed.Seconds(), 1e-9)
	s := fmt.Sprintf("%d records, %.0f records/s", records, rate)
	if total > 0 && read > 0 {
		frac := min(float64(read)/float64(total), 1)
		s += fmt.Sprintf(", %.1f%% of %s", 100*frac, statuspage.ByteWords(uint64(total)))
		if frac > 0 && frac < 1 {
			left := time.Duration(float64(elapsed) * (1 - frac) / frac)
			s += ", about " + left.Round(time.Second).String() + " left"
		}
	}
	return s
}
