// Command drill runs a disaster recovery drill on localcloud: the
// three-region relay configuration applied with tofu, synthetic agents
// exchanging messages through the failover group's front door, a fault,
// the runbook's recovery (tofu plan -detailed-exitcode, then apply), and
// the measured times and losses next to the disaster recovery plan's
// targets.
//
//	drill -scenario region-outage [-out reports/] [-keep]
//	drill -scenario all
//	drill -scenario all -profile gcp [-time-scale 20]
//
// With -profile gcp (or a JSON profile file) localcloud models Google
// Cloud's delays, shortened by the time scale, and each report splits
// every phase into local work and modelled delays and predicts the times
// to expect on Google Cloud against the plan's targets.
//
// It writes reports/<scenario>.json, .md (metric, measured, target, margin)
// and .svg (messages delivered per region per second, fault and recovery
// marked), appends each report to reports/history.jsonl, redraws
// reports/<scenario>-trend.svg from it, and prints a summary. It uses the
// binaries in bin/ (make tools build) and redis-server. Exit status: 0 when every target is met and no
// acknowledged message is lost, 1 otherwise, 2 for usage errors.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/drill"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	scenario := fs.String("scenario", "", "scenario to run: "+strings.Join(drill.Scenarios(), ", ")+", or all")
	out := fs.String("out", "reports", "folder for the reports")
	keep := fs.Bool("keep", false, "leave localcloud running at the end, with its data, tofu state and logs")
	work := fs.String("work", "", "folder for localcloud's data, the tofu state and logs (default: a temporary folder, removed unless -keep)")
	quiet := fs.Bool("q", false, "print only the summary")
	prof := fs.String("profile", "default", "localcloud's timing: default (every change live at once), gcp (Google Cloud's delays, each cited in docs/gcp-fidelity.md) or the path of a JSON profile file; with delays the reports predict Google Cloud's times")
	scale := fs.Float64("time-scale", 0, "divide every modelled delay actually slept by this factor; 0: a profile file's own, else chosen so the longest delay sleeps at most 15s")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: drill -scenario NAME [-out reports/] [-keep] [-profile default|gcp|FILE] [-time-scale N]\n\nScenarios: %s, all\n\n", strings.Join(drill.Scenarios(), ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if *scenario == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if err := drill.CheckTiming(*prof, *scale); err != nil {
		fmt.Fprintln(os.Stderr, "drill:", err)
		return 2
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "drill:", err)
		return 1
	}
	paths, err := drill.DefaultPaths(wd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "drill:", err)
		return 1
	}
	if *work != "" {
		if *work, err = filepath.Abs(*work); err != nil {
			fmt.Fprintln(os.Stderr, "drill:", err)
			return 1
		}
	}
	logf := func(format string, args ...any) {
		if !*quiet {
			fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reports, err := drill.Run(ctx, drill.Options{Paths: paths, WorkDir: *work, OutDir: *out, Keep: *keep, Logf: logf,
		Profile: *prof, TimeScale: *scale},
		strings.Split(*scenario, ",")...)
	if len(reports) > 0 {
		fmt.Println()
		drill.Summary(os.Stdout, reports)
		for _, r := range reports {
			for _, f := range r.Flags {
				fmt.Printf("%s: flagged against its history: %s\n", r.Scenario, f)
			}
		}
		fmt.Printf("\nReports in %s/: %s %s\n", strings.TrimSuffix(*out, "/"), reportFiles(reports), drill.HistoryFile)
		printRecords(reports, *keep)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "drill:", err)
		return 1
	}
	for _, r := range reports {
		if !r.Passed {
			return 1
		}
	}
	return 0
}

func reportFiles(reports []*drill.Report) string {
	var names []string
	for _, r := range reports {
		names = append(names, r.Scenario+".{json,md,svg}", r.TrendFile())
	}
	return strings.Join(names, " ")
}

// printRecords says where each scenario's recovery record is: on
// localcloud (gone with it unless kept) and its local copy.
func printRecords(reports []*drill.Report, kept bool) {
	fmt.Println("Recovery records:")
	for _, r := range reports {
		if r.Record == nil {
			continue
		}
		where := r.Record.URI
		if where == "" {
			where = "not written to Cloud Storage (see the report's failures)"
		} else if !kept {
			where += " (on localcloud, stopped with the drill: KEEP=1 keeps it)"
		}
		fmt.Printf("  %s: %s\n", r.Scenario, where)
		if r.Record.File != "" {
			fmt.Printf("  %s: %s (and .md)\n", r.Scenario, r.Record.File)
		}
	}
}
