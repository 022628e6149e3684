package selfservice

import (
	"fmt"

	"github.com/cofswitch/cofswitch/config"
)

// Applied is what Effective made of one peer's stored selection.
type Applied struct {
	Version uint64
	// Subscriptions are those applied: the stored ones that the peer's
	// current ceiling allows, as they were stored.
	Subscriptions []config.Subscription
	// Dropped says why each other stored subscription is not applied.
	Dropped []string
	// Ignored, when not "", says why none is: the peer is gone from the
	// file or has no ceiling any more, and the file's subscriptions apply.
	Ignored string
}

// Effective returns the configuration the switch runs: file, with each
// peer's subscriptions replaced by those of its stored selection that its
// current ceiling still allows (re-checked each time: a ceiling narrowed
// since drops what is now outside it, and never widens what remains), and
// what was applied for each peer with a stored selection. A peer whose
// every stored subscription was dropped receives nothing until it chooses
// again or clears its selection; a peer without a ceiling any more, or
// whose id another organisation holds since it chose, gets the file's
// subscriptions (the selection is Ignored: the exchange deletes it, as it
// does a cleared one whose peer left). file is not changed.
func Effective(file *config.Config, stored map[string]Stored) (*config.Config, map[string]Applied) {
	applied := make(map[string]Applied, len(stored))
	over := map[string][]config.Subscription{}
	ck := file.NewSelectionCheck()
	for peer, st := range stored {
		a := Applied{Version: st.Version}
		pe, inFile := file.PeerByID(peer)
		switch {
		case st.Organisation != "" && inFile && pe.Organisation != st.Organisation:
			// The id is another organisation's now: the choice was its
			// previous holder's.
			a.Ignored = fmt.Sprintf("peer %q was chosen for by its organisation's earlier holder of the id; it is organisation %q's now", peer, pe.Organisation)
		case st.Cleared:
			if !inFile || pe.Ceiling == nil {
				a.Ignored = fmt.Sprintf("peer %q left the file or its ceiling after clearing its choice", peer)
				break
			}
			continue // nothing chosen: the file's subscriptions apply
		default:
			kept, dropped, err := ck.WithinCeiling(peer, toConfig(st.Subscriptions))
			if err != nil {
				a.Ignored = err.Error()
				break
			}
			a.Subscriptions, a.Dropped = kept, dropped
			over[peer] = kept
		}
		applied[peer] = a
	}
	if len(over) == 0 {
		return file, applied
	}
	return file.WithSubscriptions(over), applied
}
