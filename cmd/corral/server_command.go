package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// serverRun is a server command's work, given its settings and its
// logger with the variable that holds the logger's level.
type serverRun func(cmd *cobra.Command, s *settings, log *slog.Logger, level *slog.LevelVar) error

// newServerCommand makes a long-running subcommand (master, agent, a
// framework, dns, dev): it takes no arguments, reads its flags through
// settings, with the flags every server has (addCommonFlags), and logs
// as --log-level and --log-format say. It returns the command's flag set
// for the server's own flags.
func newServerCommand(use, short, long string, run serverRun) (*cobra.Command, *pflag.FlagSet) {
	cmd := &cobra.Command{Use: use, Short: short, Long: long, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			log, level, err := leveledLogger(s)
			if err != nil {
				return err
			}
			return run(cmd, s, log, level)
		}}
	addCommonFlags(cmd)
	return cmd, cmd.Flags()
}

// untilSignalled is cmd's context, cancelled by SIGINT, SIGTERM and the
// further signals given; stop releases the signals.
func untilSignalled(cmd *cobra.Command, more ...os.Signal) (ctx context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), append([]os.Signal{syscall.SIGINT, syscall.SIGTERM}, more...)...)
}

// serveWhileRunning serves comp's endpoints on ln while comp runs, after
// saying so on out, and stops serving when comp returns.
func serveWhileRunning(ctx context.Context, ln net.Listener, comp component, log *slog.Logger, out io.Writer, startLine string) error {
	srv := serveHTTP(ln, comp.Handler(), log)
	fmt.Fprintln(out, startLine)
	err := comp.Run(ctx)
	srv.shutdown()
	return err
}
