package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0 // success
	exitFailure = 1 // the command ran and found a problem (invalid records, a failed run)
	exitUsage   = 2 // bad flags or arguments, or an I/O error before the work could be done
)

// stdio is the command's view of the process's standard streams, so tests
// can run commands in-process.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// command is one node of the subcommand tree. A command has either a run
// function or subcommands.
type command struct {
	name    string
	args    string // the positional arguments, for the usage line
	summary string // one line, for the parent's list
	doc     string // the full description for --help
	flags   func(fs *flag.FlagSet) any
	run     func(ctx context.Context, io stdio, opts any, args []string) error
	subs    []*command
	// dflt is the subcommand that runs when a command with subcommands is
	// given flags straight away ("db --peer x" is "db serve --peer x").
	dflt *command
}

// exitError carries an exit code out of a command, with a message (which
// may be empty when the command has already reported).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, a...)}
}

// root builds the command tree. Each subcommand lives in its own file.
func root() *command {
	return &command{
		name:    "cofswitch",
		summary: "the passive DNS sharing switch",
		doc: `cofswitch validates passive DNS records in the Common Output Format (COF),
and switches them from sensors to the databases of peer organisations.`,
		subs: []*command{serveCommand(), publishCommand(), sensorCommand(), deadLettersCommand(), dlqCommand(), tailCommand(), statusCommand(), subscribeCommand(), configCommand(), policyCommand(), credsCommand(), orgKeyCommand(), revokeCommand(), natsConfigCommand(), clusterInitCommand(), sinkCommand(), dbCommand(), backfillCommand(), genCommand(), benchCommand(), cofCommand(), versionCommand()},
	}
}

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string, io stdio) int {
	err := dispatch(ctx, root(), nil, args, io)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(io.err, "cofswitch:", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(io.err, "cofswitch:", err)
	return exitFailure
}

func dispatch(ctx context.Context, c *command, path []string, args []string, io stdio) error {
	path = append(path, c.name)
	if c.run == nil {
		if len(args) == 0 {
			writeUsage(io.err, c, path, nil)
			return &exitError{code: exitUsage}
		}
		name := args[0]
		if len(path) == 1 && (name == "--version" || name == "-version" || name == "-v") {
			fmt.Fprintln(io.out, versionString())
			return nil
		}
		if name == "-h" || name == "--help" || name == "-help" || name == "help" {
			if name == "help" {
				return help(c, path, args[1:], io)
			}
			writeHelp(io.out, c, path)
			return nil
		}
		for _, s := range c.subs {
			if s.name == name {
				return dispatch(ctx, s, path, args[1:], io)
			}
		}
		if c.dflt != nil && strings.HasPrefix(name, "-") {
			return dispatch(ctx, c.dflt, path, args, io)
		}
		return usageErrorf("unknown command %q (see '%s --help')", strings.TrimPrefix(strings.Join(append(path, name), " "), "cofswitch "), strings.Join(path, " "))
	}
	fs, opts := leafFlags(c, path, io.err)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeUsage(io.out, c, path, fs)
			return nil
		}
		// The flag package said what is wrong; the usage line and a
		// pointer to --help, not the whole help, follow it.
		fmt.Fprintf(io.err, "Usage: %s\nRun '%s --help' for its flags.\n", usageLine(c, path, fs), strings.Join(path, " "))
		return &exitError{code: exitUsage}
	}
	return c.run(ctx, io, opts, fs.Args())
}

// help shows the help of the command that names (the words after "help")
// lead to from c; words after a leaf command are ignored.
func help(c *command, path, names []string, io stdio) error {
	for _, name := range names {
		if c.run != nil {
			break
		}
		var next *command
		for _, s := range c.subs {
			if s.name == name {
				next = s
			}
		}
		if next == nil {
			return usageErrorf("unknown command %q (see '%s --help')", name, strings.Join(path, " "))
		}
		c, path = next, append(path, name)
	}
	writeHelp(io.out, c, path)
	return nil
}

// leafFlags builds the FlagSet of the leaf command c, whose full name is
// path, and returns it with the options value that c.run takes. The FlagSet
// reports parse errors on w but prints no usage of its own: the caller
// writes it, to stdout for --help and to stderr after an error.
func leafFlags(c *command, path []string, w io.Writer) (*flag.FlagSet, any) {
	fs := flag.NewFlagSet(strings.Join(path, " "), flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {}
	var opts any
	if c.flags != nil {
		opts = c.flags(fs)
	}
	return fs, opts
}

// writeHelp writes the --help text of c, whose full name is path.
func writeHelp(w io.Writer, c *command, path []string) {
	var fs *flag.FlagSet
	if c.run != nil {
		fs, _ = leafFlags(c, path, io.Discard)
	}
	writeUsage(w, c, path, fs)
}

// writeUsage prints a command's help: usage line, description, then its
// subcommands or its flags.
func writeUsage(w io.Writer, c *command, path []string, fs *flag.FlagSet) {
	name := strings.Join(path, " ")
	if c.run == nil {
		fmt.Fprintf(w, "Usage: %s COMMAND [ARGS]\n\n%s\n\nCommands:\n", name, c.doc)
		for _, s := range c.subs {
			fmt.Fprintf(w, "  %-10s %s\n", s.name, s.summary)
		}
		if c.dflt != nil {
			fmt.Fprintf(w, "\n'%s FLAGS' is '%s %s FLAGS'.\n", name, name, c.dflt.name)
		}
		fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags.\n", name)
		return
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", usageLine(c, path, fs), c.doc)
	if fs != nil && hasFlags(fs) {
		fmt.Fprintf(w, "\nFlags:\n")
		printFlags(w, fs)
	}
}

// usageLine is "cofswitch CMD [FLAGS] ARGS".
func usageLine(c *command, path []string, fs *flag.FlagSet) string {
	usage := strings.Join(path, " ")
	if fs != nil && hasFlags(fs) {
		usage += " [FLAGS]"
	}
	if c.args != "" {
		usage += " " + c.args
	}
	return usage
}

// printFlags is flag.PrintDefaults with the "--flag" spelling the README
// uses (the flag package accepts both).
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if len(f.Name) == 1 {
			line = "  -" + f.Name // -n, as the docs write it
		}
		if name != "" {
			line += " " + name
		}
		usage = strings.ReplaceAll(usage, "\n", "\n    \t")
		if def := f.DefValue; def != "" && def != "0" && def != "false" && def != "0s" && def != "[]" {
			if fmt.Sprintf("%T", f.Value) == "*flag.stringValue" {
				def = strconv.Quote(def)
			}
			usage += " (default " + def + ")"
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, usage)
	})
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}
