package httpsink

import (
	"context"
	"os"
	"testing"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/audit/ship/shiptest"
)

// durable makes a Send count only once VictoriaLogs has written the batch
// to disk (see vlogs.persist): VictoriaLogs acknowledges rows it still holds
// in memory, which a SIGKILL loses. A store relied on for audit must
// acknowledge durably; this wrapper stands in for that. When persisting
// fails the Send fails, and the shipper sends the batch again: the rows may
// then be there twice, which shiptest allows for failed Sends.
type durable struct {
	*Sink
	v *vlogs
}

func (d durable) Send(ctx context.Context, batch []audit.Record) error {
	if err := d.Sink.Send(ctx, batch); err != nil {
		return err
	}
	if err := d.v.persist(); err != nil {
		return &Error{Sink: d.Name(), Msg: "persist: " + err.Error(), Retryable: true, Err: err}
	}
	return nil
}

// TestKillRestartVictoriaLogs runs shiptest's kill-and-restart test (jit
// elevations, each a jit run shipping through the real shipper) against
// VictoriaLogs for each format: SIGKILL in the middle, restart on the same
// port and storage, flush. Every event must arrive, in order, repeated only
// where a Send failed, and the copy must verify. One format runs the full
// 1,000 elevations; the others, which differ only in the wire format that
// TestVictoriaLogsKilled and TestVictoriaLogsFormats cover, run 200 unless
// JIT_FULL_KILL=1 (a full run takes about a minute per format here).
func TestKillRestartVictoriaLogs(t *testing.T) {
	vlogsBinary(t)
	for i, c := range vlCases() {
		if c.name == "splunk-hec-line" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			k := shiptest.KillRestart{Elevations: 200}
			if i == 0 || os.Getenv("JIT_FULL_KILL") == "1" {
				k.Elevations = 1000
			}
			if testing.Short() {
				k.Elevations = 100
			}
			v := startVLogs(t)
			shiptest.RunKillRestartWith(t, k,
				func() audit.BatchSink { return durable{c.sinkAt(t, "http://"+v.addr), v} },
				v.kill,
				v.restart,
				func() [][]byte {
					lines, copies, _ := c.stored(t, v, "*")
					var out [][]byte
					for _, seq := range sortedKeys(lines) {
						for range copies[seq] {
							out = append(out, lines[seq])
						}
					}
					return out
				})
		})
	}
}
