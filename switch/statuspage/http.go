package statuspage

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

//go:embed page.html
var pageHTML string

var tmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"spark": sparkPoints,
	"ago":   ago,
	"rate":  func(r float64) string { return strconv.FormatFloat(r, 'f', 1, 64) },
	"bytes": ByteWords,
	"minutes": func(d time.Duration) string {
		return strconv.Itoa(int(d.Round(time.Minute).Minutes())) + " min"
	},
	"stateClass": stateClass,
}).Parse(pageHTML))

type httpMux struct {
	p   *Page
	mux *http.ServeMux
}

func newMux(p *Page) *httpMux {
	m := &httpMux{p: p, mux: http.NewServeMux()}
	m.mux.HandleFunc("GET /{$}", m.page)
	m.mux.HandleFunc("GET /status.json", m.json)
	m.mux.HandleFunc("GET /events", m.events)
	return m
}

// ServeHTTP serves the page, its JSON and its event stream.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.mux.ServeHTTP(w, r) }

// pageData is what the template reads.
type pageData struct {
	*View
	Nonce string
	Every int64 // milliseconds
}

func (m *httpMux) page(w http.ResponseWriter, r *http.Request) {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	n := base64.RawStdEncoding.EncodeToString(nonce)
	h := w.Header()
	// The page's own inline script and style only; it talks to itself.
	h.Set("Content-Security-Policy", fmt.Sprintf(
		"default-src 'none'; script-src 'nonce-%s'; style-src 'nonce-%s'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'", n, n))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "page", pageData{View: m.view(), Nonce: n, Every: m.p.o.Every.Milliseconds()}); err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(buf.Bytes())
}

// view is the last view, or an empty one before the first sample.
func (m *httpMux) view() *View {
	if v := m.p.View(); v != nil {
		return v
	}
	return &View{At: time.Now(), NotReady: "no sample yet", Window: m.p.o.Window, Slots: m.p.hist.keep - 1}
}

func (m *httpMux) json(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(m.view())
}

// events streams each new sample as the page's live part, rendered by the
// same template: the page swaps it in, so there is one way to draw it.
func (m *httpMux) events(w http.ResponseWriter, r *http.Request) {
	c, ok := m.p.watch()
	if !ok {
		http.Error(w, "too many live pages open", http.StatusServiceUnavailable)
		return
	}
	defer m.p.unwatch(c)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	send := func(v *View) bool {
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, "live", pageData{View: v}); err != nil {
			return false
		}
		var ev strings.Builder
		ev.WriteString("event: status\n")
		for line := range strings.SplitSeq(buf.String(), "\n") {
			ev.WriteString("data: ")
			ev.WriteString(line)
			ev.WriteByte('\n')
		}
		ev.WriteByte('\n')
		if _, err := w.Write([]byte(ev.String())); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(m.view()) {
		return
	}
	keepAlive := time.NewTicker(30 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case v := <-c:
			if !send(v) {
				return
			}
		case <-keepAlive.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// Sparkline geometry, in SVG user units.
const sparkW, sparkH = 120.0, 24.0

// sparkPoints draws a series as an SVG polyline's points, scaled to its
// own maximum, newest at the right edge; slots is how many values a full
// window holds, so that a young series covers only its share of the width.
func sparkPoints(vals []float64, slots int) string {
	if len(vals) == 0 {
		return ""
	}
	slots = max(slots, len(vals), 2)
	top := 0.0
	for _, v := range vals {
		top = math.Max(top, v)
	}
	step := sparkW / float64(slots-1)
	var b strings.Builder
	for i, v := range vals {
		y := sparkH - 1
		if top > 0 {
			y = (sparkH - 1) - (v/top)*(sparkH-2)
		}
		x := sparkW - float64(len(vals)-1-i)*step
		fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
	}
	return strings.TrimSpace(b.String())
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds ago", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

// ByteWords writes a size for a person: 812 B, 4.1 KiB, 12.0 MiB, 3.2 GiB.
func ByteWords(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// stateClass is the CSS class of a state: ok, warn or bad.
func stateClass(state string) string {
	switch state {
	case StateOK:
		return "ok"
	case StateError:
		return "bad"
	}
	return "warn"
}
