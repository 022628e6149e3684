package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrBadInput reports an --input the sensor cannot use.
var ErrBadInput = errors.New("sensor: bad input")

// Input is one source of observations: a kind and where to read it.
type Input struct {
	Kind   string
	Source string
}

// String is KIND:SOURCE, as written on the command line.
func (in Input) String() string { return in.Kind + ":" + in.Source }

// inputKind describes one kind of input for ParseInput and the help.
type inputKind struct {
	name, source, example, what string
	stdin                       bool // "-" reads standard input
	dnstap                      bool
}

// kinds are the inputs a sensor reads, in the order the help lists them.
var kinds = []inputKind{
	{name: "dnstap-unix", source: "PATH", example: "dnstap-unix:/run/cofswitch/dnstap.sock", dnstap: true,
		what: "a Frame Streams unix socket the resolver connects to (Unbound, Knot Resolver, BIND, CoreDNS), bidirectional handshake"},
	{name: "dnstap-tcp", source: "ADDR", example: "dnstap-tcp:127.0.0.1:6000", dnstap: true,
		what: "Frame Streams over TCP (loopback unless --dnstap-allow-remote)"},
	{name: "dnstap-file", source: "PATH", example: "dnstap-file:/var/log/unbound/dnstap.fstrm", dnstap: true,
		what: "a dnstap capture file (dnstap -w, fstrm_capture), read once"},
	{name: "passivedns", source: "PATH|-", example: "passivedns:/var/log/passivedns.log", stdin: true,
		what: "gamelinux passivedns || log lines (--passivedns-fields for its -f layout)"},
	{name: "passivedns-json", source: "PATH|-", example: "passivedns-json:/var/log/passivedns.json", stdin: true,
		what: "gamelinux passivedns -j JSON lines"},
	{name: "gopassivedns", source: "PATH|-", example: "gopassivedns:/var/log/gopassivedns.log", stdin: true,
		what: "gopassivedns JSON lines"},
	{name: "eve", source: "PATH|-", example: "eve:/var/log/suricata/eve.json", stdin: true,
		what: "Suricata EVE JSON, dns events (versions 1, 2 and grouped)"},
	{name: "zeek", source: "PATH|-", example: "zeek:/opt/zeek/logs/current/dns.log", stdin: true,
		what: "Zeek dns.log, TSV with its header"},
	{name: "zeek-json", source: "PATH|-", example: "zeek-json:/opt/zeek/logs/current/dns.log", stdin: true,
		what: "Zeek dns.log written as JSON"},
	{name: "cof", source: "PATH|-", example: "cof:/var/spool/pdns/records.ndjson", stdin: true,
		what: "COF NDJSON"},
}

// ParseInput reads KIND:SOURCE.
func ParseInput(spec string) (Input, error) {
	kind, source, ok := strings.Cut(spec, ":")
	if !ok || source == "" {
		return Input{}, fmt.Errorf("%w %q: want KIND:SOURCE, KIND one of %s", ErrBadInput, spec, strings.Join(KindNames(), ", "))
	}
	k, ok := lookupKind(kind)
	if !ok {
		return Input{}, fmt.Errorf("%w %q: unknown kind %q; known: %s", ErrBadInput, spec, kind, strings.Join(KindNames(), ", "))
	}
	if source == "-" && !k.stdin {
		return Input{}, fmt.Errorf("%w %q: %s cannot read standard input", ErrBadInput, spec, kind)
	}
	return Input{Kind: kind, Source: source}, nil
}

func lookupKind(name string) (inputKind, bool) {
	i := slices.IndexFunc(kinds, func(k inputKind) bool { return k.name == name })
	if i < 0 {
		return inputKind{}, false
	}
	return kinds[i], true
}

// KindNames lists the kinds of input.
func KindNames() []string {
	var out []string
	for _, k := range kinds {
		out = append(out, k.name)
	}
	return out
}

// InputHelp is a paragraph per kind of input with an example, for the
// command's help.
func InputHelp() string {
	var b strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %s:%s\n", k.name, k.source)
		line := "     "
		for _, w := range strings.Fields(k.what) {
			if len(line)+1+len(w) > 76 {
				b.WriteString(line + "\n")
				line = "     "
			}
			line += " " + w
		}
		fmt.Fprintf(&b, "%s\n      e.g. --input %s\n", line, k.example)
	}
	return b.String()
}
