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
	switch {
	case addons.InAgent(name):
		// The agent reads the configuration: written before the signal.
		if !enable {
			if err := reapply(); err != nil {
				return err
			}
		}
		if err := writeConfig(cfg); err != nil {
			return err
		}
		if err := writeAddonReports(cfg); err != nil {
			return err
		}
		if err := reloadAgent(ctx, name, enable); err != nil {
			return err
		}
		if enable {
			return reapply()
		}
		return nil
	case enable:
		if _, err := applyAddon(ctx, ap, name, v, false); err != nil {
			return err
		}
		if err := reapply(); err != nil {
			return err
		}
	default:
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
// in-agent addons and waits until it has, and its status shows the named
// addon serving (enable) or gone (disable).
func reloadAgent(ctx context.Context, name string, enable bool) error {
	sent := time.Now()
	if err := syscall.Kill(1, syscall.SIGHUP); err != nil {
		return fmt.Errorf("failed to signal the node agent: %w", err)
	}
	err := waitfor.Poll(ctx, 100*time.Millisecond, func(context.Context) (bool, string, error) {
		var st AgentStatus
		if data, err := os.ReadFile(StatusFile); err != nil || json.Unmarshal(data, &st) != nil || !st.Reloaded.After(sent) {
			return false, "the node agent has not reloaded since the signal", nil
		}
		if st.ReloadError != "" {
			return false, "", fmt.Errorf("the node agent failed to apply the change: %s", st.ReloadError)
		}
		on, serving, _ := st.InAgent(name)
		if on == enable && serving == enable {
			return true, "", nil
		}
		return false, "addon " + name + " is not as asked yet", nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("the node agent did not apply the change: %w", err)
	}
	return err
}
