package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/frameworks/pets"
)

// The petset commands are a client of the pets framework's REST API.
func newPetsetCommand() *cobra.Command {
	cmd := newFrameworkClientCommand("petset", "Create, scale, update and inspect stateful sets (talks to corral pets)",
		"pets", "http://127.0.0.1:8081", "the pets framework", true)
	create := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create a set from a YAML or JSON file, or update it (a rolling update per its strategy)",
		Args:  cobra.NoArgs,
		RunE:  runPetsetCreate,
	}
	create.Flags().StringP("file", "f", "", "set file (YAML or JSON)")
	_ = create.MarkFlagRequired("file")
	scale := &cobra.Command{Use: "scale ID N", Short: "Change a set's number of pets", Args: cobra.ExactArgs(2), RunE: runPetsetScale}
	restart := &cobra.Command{Use: "restart ID ORDINAL", Short: "Restart one pet in place, with the set's current spec", Args: cobra.ExactArgs(2), RunE: runPetsetPetAction}
	replace := &cobra.Command{Use: "replace ID ORDINAL", Short: "Move one pet to another agent with a fresh volume, destroying its old one", Args: cobra.ExactArgs(2), RunE: runPetsetPetAction}
	rm := &cobra.Command{Use: "rm ID", Short: "Delete a set, stopping its pets in reverse order; volumes are kept unless --purge", Args: cobra.ExactArgs(1), RunE: runPetsetRemove}
	rm.Flags().Bool("purge", false, "also destroy the pets' volumes and reservations (needs -f)")
	rm.Flags().BoolP("force", "f", false, "confirm --purge: the pets' data is destroyed")
	for _, c := range []*cobra.Command{create, scale, restart, replace, rm} {
		c.Flags().Bool("wait", false, "wait until the set is ready (or gone), showing its progress")
		c.Flags().Duration("timeout", 10*time.Minute, "with --wait, give up after this long")
	}
	cmd.AddCommand(create, scale, restart, replace, rm,
		&cobra.Command{Use: "ls", Short: "List sets", Args: cobra.NoArgs, RunE: runPetsetList},
		&cobra.Command{Use: "show ID", Short: "Show a set and its pets", Args: cobra.ExactArgs(1), RunE: runPetsetShow},
	)
	return cmd
}

func newPetsClient(cmd *cobra.Command) restClient {
	return newRESTClient(cmd, "pets", "CORRAL_PETS", "the pets framework", "corral pets")
}

func runPetsetCreate(cmd *cobra.Command, _ []string) error {
	c := newPetsClient(cmd)
	file, _ := cmd.Flags().GetString("file")
	body, id, err := readSpecFile(file, "set")
	if err != nil {
		return err
	}
	var v pets.PetSetView
	if err := c.call(http.MethodPut, "/v1/petsets/"+id, body, &v); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pet set %s at revision %d, %d instances\n", id, v.Revision, v.Instances)
	return afterPetsetChange(cmd, c, id, false)
}

func runPetsetScale(cmd *cobra.Command, args []string) error {
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return fmt.Errorf("the number of pets %q is not a number", args[1])
	}
	c := newPetsClient(cmd)
	body, _ := json.Marshal(map[string]int{"instances": n})
	if err := c.call(http.MethodPost, "/v1/petsets/"+args[0]+"/scale", body, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pet set %s scaling to %d\n", args[0], n)
	return afterPetsetChange(cmd, c, args[0], false)
}

func runPetsetPetAction(cmd *cobra.Command, args []string) error {
	c := newPetsClient(cmd)
	if err := c.call(http.MethodPost, "/v1/petsets/"+args[0]+"/pets/"+args[1]+"/"+cmd.Name(), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pet %s-%s: %s requested\n", args[0], args[1], cmd.Name())
	return afterPetsetChange(cmd, c, args[0], false)
}

func runPetsetRemove(cmd *cobra.Command, args []string) error {
	purge, _ := cmd.Flags().GetBool("purge")
	force, _ := cmd.Flags().GetBool("force")
	if purge && !force {
		return errors.New("--purge destroys every pet's volume and data; add -f to confirm")
	}
	c := newPetsClient(cmd)
	if err := c.call(http.MethodDelete, "/v1/petsets/"+args[0]+"?purge="+strconv.FormatBool(purge), nil, nil); err != nil {
		return err
	}
	what := "volumes kept"
	if purge {
		what = "volumes to be destroyed"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pet set %s deleting (%s)\n", args[0], what)
	return afterPetsetChange(cmd, c, args[0], true)
}

// afterPetsetChange follows the set with --wait: until it is ready, or
// gone when deleting.
func afterPetsetChange(cmd *cobra.Command, c restClient, id string, deleting bool) error {
	if wait, _ := cmd.Flags().GetBool("wait"); !wait {
		return nil
	}
	timeout, _ := cmd.Flags().GetDuration("timeout")
	out := cmd.OutOrStdout()
	tty := isTerminal(out)
	deadline := time.Now().Add(timeout)
	last := ""
	show := func(line string) {
		if line == last {
			return
		}
		if tty {
			fmt.Fprintf(out, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(out, line)
		}
		last = line
	}
	for {
		var v pets.PetSetView
		err := c.call(http.MethodGet, "/v1/petsets/"+id, nil, &v)
		switch {
		case err != nil && deleting && strings.Contains(err.Error(), "does not exist"):
			if tty {
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "pet set %s deleted\n", id)
			return nil
		case err != nil:
			return err
		}
		show(petsetProgress(&v))
		if !deleting && v.Status == "ready" {
			if tty {
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "pet set %s ready: %d/%d pets at revision %d\n", id, v.ReadyPets, v.Instances, v.Revision)
			return nil
		}
		if time.Now().After(deadline) {
			if tty {
				fmt.Fprintln(out)
			}
			return fmt.Errorf("pet set %s not done after %v (see `corral petset show %s`)", id, timeout, id)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// petsetProgress is one line: a bar of ready pets, and the first pet
// that waits, with why.
func petsetProgress(v *pets.PetSetView) string {
	const width = 20
	filled := width
	if v.Instances > 0 {
		filled = min(width, width*v.ReadyPets/v.Instances)
	}
	line := fmt.Sprintf("[%s%s] %s: %s, %d/%d ready, %d at revision %d", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		v.ID, v.Status, v.ReadyPets, v.Instances, v.UpdatedPets, v.Revision)
	for _, p := range v.Pets {
		switch {
		case p.Stopping != "":
			return line + fmt.Sprintf("; %s stopping (%s)", p.Name, p.Stopping)
		case p.Waiting != "" && (p.Wanted || p.Phase == "unknown"):
			return line + fmt.Sprintf("; %s %s", p.Name, p.Waiting)
		case p.Wanted && p.Phase != "ready":
			return line + fmt.Sprintf("; %s %s", p.Name, p.Phase)
		}
	}
	return line
}

func runPetsetList(cmd *cobra.Command, _ []string) error {
	var sets []pets.PetSetView
	if err := newPetsClient(cmd).call(http.MethodGet, "/v1/petsets", nil, &sets); err != nil {
		return err
	}
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), sets)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPETS\tREADY\tREVISION\tUPDATED\tSTATUS\tPOLICY\tUPDATE\tROLE\tIMAGE")
	for _, s := range sets {
		update := s.UpdateStrategy.Type
		if s.UpdateStrategy.Type == pets.RollingUpdate && s.UpdateStrategy.Partition > 0 {
			update += fmt.Sprintf(" (partition %d)", s.UpdateStrategy.Partition)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Instances, s.ReadyPets, s.Revision, s.UpdatedPets,
			s.Status, s.PodManagementPolicy, update, s.Role, dash(s.Image))
	}
	return tw.Flush()
}

func runPetsetShow(cmd *cobra.Command, args []string) error {
	var v pets.PetSetView
	if err := newPetsClient(cmd).call(http.MethodGet, "/v1/petsets/"+args[0], nil, &v); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if jsonOutput(cmd) {
		return printJSON(out, v)
	}
	spread := "spread preferred by hostname"
	if pl := v.Placement; pl != nil {
		spread = fmt.Sprintf("spread %s by %s", pl.Spread, pl.By)
	}
	fmt.Fprintf(out, "%s: %s, %d/%d ready, revision %d (%d updated), %s, %s, %s\n\n", v.ID, v.Status, v.ReadyPets, v.Instances,
		v.Revision, v.UpdatedPets, v.PodManagementPolicy, v.UpdateStrategy.Type, spread)
	return printPets(out, v.Pets)
}

func printPets(w io.Writer, list []*pets.PetView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PET\tPHASE\tREADY\tREVISION\tHOST\tPORTS\tVOLUMES\tTASK\tWAITING")
	for _, p := range list {
		var ports []string
		for name, port := range p.Ports {
			ports = append(ports, fmt.Sprintf("%s=%d", name, port))
		}
		sort.Strings(ports)
		var vols []string
		for _, vol := range p.Volumes {
			vols = append(vols, vol.ContainerPath+":"+vol.PersistenceID)
		}
		phase := p.Phase
		if !p.Wanted {
			phase += " (not wanted)"
		}
		waiting := p.Waiting
		if p.Stopping != "" {
			waiting = "stopping: " + p.Stopping
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Name, phase, p.Ready, p.Revision, dash(p.Host),
			dash(strings.Join(ports, ",")), dash(strings.Join(vols, ",")), dash(p.TaskID), waiting)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
