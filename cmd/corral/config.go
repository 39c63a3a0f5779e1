package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// settings reads a command's flags through viper, so every flag can also
// come from the environment (CORRAL_<FLAG>) or the --config file, with the
// precedence flag > environment > file > default.
type settings struct {
	v *viper.Viper
}

// loadSettings binds cmd's flags and reads the config file, if any.
func loadSettings(cmd *cobra.Command) (*settings, error) {
	v := viper.New()
	v.SetEnvPrefix("corral")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	var bindErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err := v.BindPFlag(f.Name, f); err != nil && bindErr == nil {
			bindErr = fmt.Errorf("binding flag --%s: %w", f.Name, err)
		}
	})
	if bindErr != nil {
		return nil, bindErr
	}
	if path, _ := cmd.Flags().GetString("config"); path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("reading config file %s: %w", path, err)
		}
		for _, key := range v.AllKeys() {
			if cmd.Flags().Lookup(key) == nil && !strings.Contains(key, ".") {
				return nil, fmt.Errorf("config file %s: unknown setting %q for %q", path, key, cmd.Name())
			}
		}
	}
	return &settings{v: v}, nil
}

func (s *settings) String(name string) string { return s.v.GetString(name) }
func (s *settings) Int(name string) int       { return s.v.GetInt(name) }
func (s *settings) Bool(name string) bool     { return s.v.GetBool(name) }

// Duration parses a duration setting; viper would silently turn a bad one
// into 0.
func (s *settings) Duration(name string) (time.Duration, error) {
	raw := s.v.GetString(name)
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("--%s %q: %w", name, raw, err)
	}
	return d, nil
}

// leveledLogger builds the process's logger from --log-level and
// --log-format, with the variable that holds its level, which the
// master's SET_LOGGING_LEVEL changes.
func leveledLogger(s *settings) (*slog.Logger, *slog.LevelVar, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.String("log-level"))); err != nil {
		return nil, nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", s.String("log-level"))
	}
	lv := &slog.LevelVar{}
	lv.Set(level)
	opts := &slog.HandlerOptions{Level: lv}
	switch s.String("log-format") {
	case "text", "":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), lv, nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), lv, nil
	}
	return nil, nil, errors.New("--log-format: want text or json")
}

// addCommonFlags adds what every server subcommand takes.
func addCommonFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("config", "", "YAML file with settings (keys are flag names)")
	f.String("log-level", "info", "debug, info, warn or error")
	f.String("log-format", "text", "text or json")
}
