package commands

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/addons"
	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/provision"
)

// completionTimeout bounds a completion's Docker queries: a shell waits
// for them at every Tab.
const completionTimeout = 5 * time.Second

// completeWith makes a completion function from a lister of names; names
// already given as arguments and those without the typed prefix are left
// out.
func completeWith(list func(context.Context, *provision.Provider) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		docker, err := engine.Connect(ctx)
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveError
		}
		defer docker.Close()
		names, err := list(ctx, provision.NewProvider(docker, nil, nil))
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveError
		}
		return matching(names, args, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// matching returns the names that start with prefix and are not in given.
func matching(names, given []string, prefix string) []cobra.Completion {
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && !slices.Contains(given, n) {
			out = append(out, n)
		}
	}
	return out
}

// completeClusters completes cluster names.
var completeClusters = completeWith(func(ctx context.Context, p *provision.Provider) ([]string, error) {
	list, err := p.List(ctx)
	var names []string
	for _, c := range list {
		names = append(names, c.Name)
	}
	return names, err
})

// completeSnapshots completes snapshot names.
var completeSnapshots = completeWith(func(ctx context.Context, p *provision.Provider) ([]string, error) {
	return p.SnapshotNames(ctx)
})

// completeFirstSnapshot completes the one SNAP argument of a command.
func completeFirstSnapshot(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return completeSnapshots(cmd, args, toComplete)
}

// completeAddon completes the one ADDON argument of addons enable/disable.
func completeAddon(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return matching(addons.Names(), nil, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// mustComplete registers a flag's completion; the flag is the caller's
// own, so a failure is a programming error.
func mustComplete(cmd *cobra.Command, flag string, fn cobra.CompletionFunc) {
	if err := cmd.RegisterFlagCompletionFunc(flag, fn); err != nil {
		panic(err)
	}
}
