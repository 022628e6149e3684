package deadletters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
)

// Purged is what Purge removes (or, before confirming, would remove).
type Purged struct {
	// Letters and Entries count the messages of COF_DLQ removed and the
	// dead letters they held.
	Letters, Entries int
	// Mixed counts the letters left because they hold entries of other
	// kinds as well as of Filter.Kind: a letter (one input batch's
	// entries) is removed whole or not at all.
	Mixed int
}

// Purge removes the dead letters of f.Sensor stored up to f.Until (zero:
// all of them), or with f.Kind only the letters whose entries are all of
// that kind. It counts them first and asks confirm, which may refuse:
// then nothing is removed and it returns the count and false. Only the
// operator purges: as a sensor, or with a refusal from the server, it is
// ErrDenied; ErrNoPurge when the stream refuses purges or deletes.
func (c *Client) Purge(ctx context.Context, f Filter, confirm func(Purged) bool) (Purged, bool, error) {
	var plan Purged
	switch {
	case c.view != nil:
		return plan, false, fmt.Errorf("%w: only the operator (the switch's identity) purges dead letters", ErrDenied)
	case f.Sensor == "":
		return plan, false, errors.New("deadletters: purge needs a sensor")
	case !f.Since.IsZero():
		return plan, false, errors.New("deadletters: purge takes no lower bound of time")
	}
	ctx, cancel := c.refusals.watch(ctx)
	defer cancel()
	st, err := c.js.Stream(ctx, routing.DLQStream)
	if err != nil {
		return plan, false, c.refusals.denied(err, "only the operator (the switch's identity) purges dead letters")
	}
	cfg := st.CachedInfo().Config
	if (f.Kind == "" && cfg.DenyPurge) || (f.Kind != "" && cfg.DenyDelete) {
		return plan, false, fmt.Errorf("%w: it was made with deny_purge and deny_delete, which the server never lifts; its dead letters leave only by its limits (streams.dlq max_age, max_bytes), or after the stream is deleted and serve makes it again", ErrNoPurge)
	}
	var seqs []uint64
	err = c.letters(ctx, Filter{Sensor: f.Sensor}, Options{Idle: defaultIdle}, func(l *Letter) (bool, error) {
		if !f.Until.IsZero() && l.Stored.After(f.Until) {
			return false, nil
		}
		if f.Kind != "" && !l.onlyKind(f.Kind) {
			for i := range l.Entries {
				if l.Entries[i].Kind == f.Kind {
					plan.Mixed++
					break
				}
			}
			return true, nil
		}
		plan.Letters++
		plan.Entries += len(l.Entries)
		seqs = append(seqs, l.Seq)
		return true, nil
	})
	if err != nil || len(seqs) == 0 || !confirm(plan) {
		return plan, false, err
	}
	if f.Kind == "" {
		n, err := c.purgeBelow(ctx, f.Sensor, seqs[len(seqs)-1]+1)
		if n < uint64(plan.Letters) {
			plan.Letters = int(n) // some expired meanwhile
		}
		return plan, err == nil, err
	}
	for i, seq := range seqs {
		if err := st.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			plan.Letters = i
			return plan, false, c.refusals.denied(fmt.Errorf("deadletters: deleting %d: %w", seq, err), "")
		}
	}
	return plan, true, nil
}

// purgeBelow purges the sensor's subject of COF_DLQ below seq, and
// returns the number of messages the server removed.
func (c *Client) purgeBelow(ctx context.Context, sensor string, seq uint64) (uint64, error) {
	req, _ := json.Marshal(struct {
		Filter string `json:"filter"`
		Seq    uint64 `json:"seq"`
	}{routing.DLQSubject(sensor), seq})
	msg, err := c.nc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+routing.DLQStream, req)
	if err != nil {
		return 0, c.refusals.denied(fmt.Errorf("deadletters: purging: %w", err), "")
	}
	var resp struct {
		Success bool   `json:"success"`
		Purged  uint64 `json:"purged"`
		Error   *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, fmt.Errorf("deadletters: purging: %w", err)
	}
	if resp.Error != nil || !resp.Success {
		desc := "no success"
		if resp.Error != nil {
			desc = resp.Error.Description
		}
		return 0, fmt.Errorf("deadletters: purging: %s", desc)
	}
	return resp.Purged, nil
}
