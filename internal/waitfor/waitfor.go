// Package waitfor polls a check with apimachinery's wait helpers, keeping
// the last reason the check gave for not being done, so that a timeout
// says what was still missing rather than only that time ran out.
package waitfor

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Check reports whether what is awaited is done and, if not, why; an
// error ends the wait at once.
type Check func(ctx context.Context) (done bool, why string, err error)

// Poll calls check at once and then every interval until it is done,
// returns an error, or ctx ends; the last "not yet" reason is in the
// error of a wait that ran out.
func Poll(ctx context.Context, interval time.Duration, check Check) error {
	why := "no answer yet"
	err := wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		done, w, err := check(ctx)
		if w != "" {
			why = w
		}
		return done, err
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s: %w", why, ctx.Err())
	}
	return err
}
