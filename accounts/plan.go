package accounts

import (
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
)

// Identity is the account of one registered sensor or peer and what the
// exchange grants it: the services EXCHANGE exports to it alone, which are
// also the only subjects its users may publish to, and the inbox prefix
// they must use. Both renderings of the model, the server configuration
// of nkey users (ServerConfig) and the JWTs of operator mode
// (OperatorClaims), are made from it, so that the two cannot drift apart.
type Identity struct {
	Kind         string // "sensor" or "peer"
	ID           string
	Organisation string
	Account      string // SensorAccount or PeerAccount
	NKey         string // the nkey of its user in nkey mode, if any
	Services     []service
	Inbox        string // without the trailing ".>"
}

// Publish lists the subjects the identity's users may publish to: the
// local names of its services.
func (id Identity) Publish() []string {
	out := make([]string, len(id.Services))
	for i, svc := range id.Services {
		out[i] = svc.local
	}
	return out
}

// Plan lists the identities of a registry, sensors first, in order. In
// nkey mode (operator false) those without an nkey are left out: they
// have no user, so an account would only be noise. In operator mode every
// identity has an account, whose users its organisation issues, and may
// send revocations (RevokeSubject).
func Plan(sensors []config.Sensor, peers []config.Peer, operator bool) []Identity {
	var out []Identity
	nkeyOnly := !operator
	for _, s := range sensors {
		if nkeyOnly && s.NKey == "" {
			continue
		}
		subj := routing.InSubject(s.ID)
		svcs := append([]service{{subj, subj, false}}, sensorServices(s.ID)...)
		if operator {
			svcs = append(svcs, revokeService("sensor", s.ID))
		}
		out = append(out, Identity{Kind: "sensor", ID: s.ID, Organisation: s.Organisation,
			Account: SensorAccount(orgOf(s.Organisation), s.ID), NKey: s.NKey, Services: svcs, Inbox: SensorInbox(s.ID)})
	}
	for _, p := range peers {
		if nkeyOnly && p.NKey == "" {
			continue
		}
		svcs := append(peerFeedServices(p.ID), peerControlService(p.ID))
		for _, cons := range p.Consumers {
			svcs = append(svcs, peerServices(p.ID, cons)...)
		}
		if operator {
			svcs = append(svcs, revokeService("peer", p.ID))
		}
		out = append(out, Identity{Kind: "peer", ID: p.ID, Organisation: p.Organisation,
			Account: PeerAccount(orgOf(p.Organisation), p.ID), NKey: p.NKey, Services: svcs, Inbox: PeerInbox(p.ID)})
	}
	return out
}

func revokeService(kind, id string) service {
	subj := RevokeSubject(kind, id)
	return service{subj, subj, false}
}
