package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/skiff-k8s/skiff/addons"
	"github.com/skiff-k8s/skiff/internal/waitfor"
)

// addonCommand is `skiff-node addon enable|disable NAME`, run by the CLI
// with docker exec: it changes the running cluster and records the choice
// in the node config, so the next boot agrees.
func addonCommand(args []string) int {
	if len(args) != 2 || (args[0] != "enable" && args[0] != "disable") {
		fmt.Fprintln(os.Stderr, "usage: skiff-node addon enable|disable NAME")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := setAddon(ctx, args[1], args[0] == "enable"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// setAddon turns an addon on or off, and re-applies the addons whose
// manifests depend on it: after it when it is enabled (Traefik's Gateway
// provider needs the CRDs), before it is removed (so nothing still uses
// them).
func setAddon(ctx context.Context, name string, enable bool) error {
	if !slices.Contains(addons.Names(), name) {
		return fmt.Errorf("unknown addon %q", name)
	}
	cfg, err := ReadConfig(ConfigFile)
	if err != nil {
		return err
	}
	enabled := enabledAddons(cfg)
	if enable && !slices.Contains(enabled, name) {
		enabled = append(enabled, name)
	} else if !enable {
		enabled = slices.DeleteFunc(enabled, func(n string) bool { return n == name })
	}
	// Keep apply order stable whatever order addons were enabled in.
	cfg.Addons = slices.DeleteFunc(addons.Names(), func(n string) bool { return !slices.Contains(enabled, n) })
	v, err := addonValues(cfg)
	if err != nil {
		return err
	}
	if enable {
		if err := addons.Requires(name, v); err != nil {
			return err
		}
	}
	if addons.InAgent(name) {
		if err := writeConfig(cfg); err != nil {
			return err
		}
		if err := writeAddonReports(cfg); err != nil {
			return err
		}
		return reloadAgent(ctx, enable)
	}
	ap, err := newApplier(kubeconfig("admin"))
	if err != nil {
		return err
	}
	reapply := func() error {
		for _, a := range addons.Affects(name) {
			if AddonEnabled(cfg, a) {
				if _, err := applyAddon(ctx, ap, a, v, false); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if enable {
		if _, err := applyAddon(ctx, ap, name, v, false); err != nil {
			return err
		}
		if err := reapply(); err != nil {
			return err
		}
	} else {
		if err := reapply(); err != nil {
			return err
		}
		file := filepath.Join(AddonsDir, name+".yaml")
		if _, err := os.Stat(file); err == nil {
			if err := kubectl(ctx, runDirect, "delete", "--ignore-not-found", "--wait=false", "-f", file); err != nil {
				return fmt.Errorf("failed to remove addon %s: %w", name, err)
			}
			if err := os.Remove(file); err != nil {
				return err
			}
			if err := removeMarker(name); err != nil {
				return err
			}
		}
	}
	if err := writeConfig(cfg); err != nil {
		return err
	}
	return writeAddonReports(cfg)
}

func writeConfig(cfg *Config) error {
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(ConfigFile, data, 0o644)
}

// reloadAgent tells the agent (PID 1) to apply the configuration's
// in-agent addons and waits until its status shows the NetworkPolicy
// enforcer running (enable) or gone (disable).
func reloadAgent(ctx context.Context, enable bool) error {
	if err := syscall.Kill(1, syscall.SIGHUP); err != nil {
		return fmt.Errorf("failed to signal the node agent: %w", err)
	}
	sent := time.Now()
	err := waitfor.Poll(ctx, 100*time.Millisecond, func(context.Context) (bool, string, error) {
		var st AgentStatus
		if data, err := os.ReadFile(StatusFile); err != nil || json.Unmarshal(data, &st) != nil || !st.Updated.After(sent) {
			return false, "no status since the signal", nil
		}
		np := st.NetworkPolicy
		switch {
		case !enable && np == nil, enable && np != nil && np.Enforcing:
			return true, "", nil
		case enable && np != nil && np.Error != "":
			return false, "", fmt.Errorf("the node agent failed to start the NetworkPolicy enforcer: %s", np.Error)
		}
		return false, "the enforcer is not there yet", nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("the node agent did not apply the change: %w", err)
	}
	return err
}
