package bus

import (
	"net"
	"regexp"
	"strconv"
	"strings"
)

// secKind is a kind of security event in the server's log.
type secKind uint8

// The security events the server's log is read for.
const (
	notSecurity secKind = iota
	// pubViolation: a publish (or a reply subject) the identity's
	// permissions refuse.
	pubViolation
	// subViolation: a subscription the identity's permissions refuse.
	subViolation
	// authFailure: a connection refused before it was admitted (bad or
	// unknown credentials, a failed TLS handshake, too many connections).
	authFailure
	// protoError: a client's protocol error or its own -ERR text; the
	// server closes the connection.
	protoError
)

// String names a single event of the kind.
func (k secKind) String() string {
	switch k {
	case pubViolation:
		return "publish violation"
	case subViolation:
		return "subscription violation"
	case authFailure:
		return "authentication failure"
	case protoError:
		return "protocol error"
	}
	return "not a security event"
}

// violation reports whether the kind counts towards disconnection.
func (k secKind) violation() bool { return k == pubViolation || k == subViolation }

// secPatterns classify the message part of a server log line (after the
// connection's prefix). The texts are nats-server v2.15's (client.go:
// pubPermissionViolation, subPermissionViolation, replySubjectViolation,
// maxTokensViolation, authViolation, processErr, maxConnExceeded,
// maxAccountConnExceeded, maxPayloadViolation, the TLS handshake; auth.go:
// source IP and connect-time checks; parser.go: parse errors).
var secPatterns = []struct {
	prefix string
	kind   secKind
}{
	{"Publish Violation - ", pubViolation},
	{"Subscription Violation", subViolation},
	{"authentication error", authFailure},
	{"Authorization Violation", authFailure},
	{"Bad src Ip", authFailure},
	{"Outside connect times", authFailure},
	{"TLS handshake error", authFailure},
	{"maximum connections exceeded", authFailure},
	{"maximum account active connections exceeded", authFailure},
	{"Client parser ERROR", protoError},
	{"Client Error ", protoError},
	{"maximum payload exceeded", protoError},
}

// classify returns the kind of security event msg reports, or notSecurity.
func classify(msg string) secKind {
	for _, p := range secPatterns {
		if strings.HasPrefix(msg, p.prefix) {
			return p.kind
		}
	}
	// "TLS client handshake error", "TLS route handshake error", ...
	if strings.HasPrefix(msg, "TLS ") && strings.Contains(msg, " handshake error") {
		return authFailure
	}
	return notSecurity
}

// secEvent is one security event read from a log line.
type secEvent struct {
	kind secKind
	// identity is whom the event is counted against: the account and user
	// of an admitted connection, else the remote IP, else "unknown".
	identity string
	// detail is the refused subject, or the user an authentication
	// failure named, or the message itself.
	detail string
	// cid is the connection's id, 0 when the line names none.
	cid uint64
}

// clientLine is a server log line split into the prefix the server puts
// before a connection's messages and the message:
//
//	127.0.0.1:5678 - cid:9 - "v1.55.0:go:name" - "ACCOUNT/nkey:U..." - Publish Violation - Subject "x"
//
// The quoted labels (client version, language and name; account and user)
// are present only once the connection is admitted, and the client chooses
// its name: they are read as Go-quoted strings, so no text inside them can
// pass for the message.
type clientLine struct {
	conn   string // host:port, or client-ip/host:port for websockets
	cid    uint64
	labels []string
	msg    string
}

// connIDKinds are the id tags of connections the server can disconnect
// by id: clients (plain, websocket, MQTT) and leaf nodes.
var connIDKinds = map[string]bool{"cid": true, "wid": true, "mid": true, "mid_ws": true, "lid": true, "lid_ws": true}

// parseClientLine splits line; a line without a connection prefix is all
// message.
func parseClientLine(line string) clientLine {
	conn, rest, ok := strings.Cut(line, " - ")
	if !ok {
		return clientLine{msg: line}
	}
	tag, rest, ok := strings.Cut(rest, " - ")
	if !ok {
		return clientLine{msg: line}
	}
	kind, num, ok := strings.Cut(tag, ":")
	cid, err := strconv.ParseUint(num, 10, 64)
	if !ok || err != nil || !connIDKinds[kind] {
		return clientLine{msg: line}
	}
	cl := clientLine{conn: conn, cid: cid}
	for strings.HasPrefix(rest, `"`) {
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			break
		}
		after, ok := strings.CutPrefix(rest[len(q):], " - ")
		if !ok {
			break
		}
		label, _ := strconv.Unquote(q)
		cl.labels = append(cl.labels, label)
		rest = after
	}
	cl.msg = rest
	return cl
}

// userLabel matches the account/user label of an admitted connection:
// "ACCOUNT/nkey:U...", "ACCOUNT/user:alice", "ACCOUNT/tag/jwt:U...",
// "ACCOUNT/token".
var userLabel = regexp.MustCompile(`/(?:(?:nkey|user|jwt):[^/]*|token)$`)

// ip is the remote address of the connection (the TCP peer, not a
// forwarded-for address a websocket client may claim), without the port.
func (cl clientLine) ip() string {
	conn := cl.conn
	if i := strings.LastIndexByte(conn, '/'); i >= 0 {
		conn = conn[i+1:]
	}
	host, _, err := net.SplitHostPort(conn)
	if err != nil {
		return ""
	}
	return host
}

// parseSecEvent reads a security event from a server log line.
func parseSecEvent(line string) (secEvent, bool) {
	cl := parseClientLine(line)
	kind := classify(cl.msg)
	if kind == notSecurity {
		return secEvent{}, false
	}
	ev := secEvent{kind: kind, cid: cl.cid, detail: detailOf(kind, cl.msg), identity: "unknown"}
	if kind != authFailure && len(cl.labels) > 0 && userLabel.MatchString(cl.labels[len(cl.labels)-1]) {
		ev.identity = cl.labels[len(cl.labels)-1]
	} else if ip := cl.ip(); ip != "" {
		ev.identity = ip
	}
	return ev, true
}

// maxDetailLen bounds what is kept of an event's detail (a subject can be
// as long as the server's maximum control line).
const maxDetailLen = 256

// detailOf extracts the refused subject, or the user an authentication
// failure named, or else keeps the message.
func detailOf(kind secKind, msg string) string {
	d := msg
	switch kind {
	case pubViolation, subViolation:
		for _, field := range []string{"Subject ", "Reply "} {
			if _, after, ok := strings.Cut(msg, field); ok {
				if q, err := strconv.QuotedPrefix(after); err == nil {
					d, _ = strconv.Unquote(q)
					break
				}
			}
		}
	case authFailure:
		if _, after, ok := strings.Cut(msg, "authentication error - "); ok {
			d = after
		}
	}
	if len(d) > maxDetailLen {
		d = strings.ToValidUTF8(d[:maxDetailLen], "") + "..."
	}
	return d
}
