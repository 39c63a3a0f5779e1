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
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/corral-sched/corral/frameworks/pets"
)

// The petset commands are a client of the pets framework's REST API.
func newPetsetCommand() *cobra.Command {
	cmd := petsAPI.command("petset", "Create, scale, update and inspect stateful sets (talks to corral pets)", true)
	return addCommands(cmd,
		cmdSpec{use: "create -f FILE", short: "Create a set from a YAML or JSON file, or update it (a rolling update per its strategy)",
			args: cobra.NoArgs, run: runPetsetCreate, file: "set file (YAML or JSON)", flags: petsetWaitFlags},
		cmdSpec{use: "scale ID N", short: "Change a set's number of pets", args: cobra.ExactArgs(2), run: runPetsetScale, flags: petsetWaitFlags},
		cmdSpec{use: "restart ID ORDINAL", short: "Restart one pet in place, with the set's current spec", args: cobra.ExactArgs(2),
			run: runPetsetPetAction, flags: petsetWaitFlags},
		cmdSpec{use: "replace ID ORDINAL", short: "Move one pet to another agent with a fresh volume, destroying its old one", args: cobra.ExactArgs(2),
			run: runPetsetPetAction, flags: petsetWaitFlags},
		cmdSpec{use: "rm ID", short: "Delete a set, stopping its pets in reverse order; volumes are kept unless --purge", args: cobra.ExactArgs(1),
			run: runPetsetRemove, flags: func(f *pflag.FlagSet) {
				f.Bool("purge", false, "also destroy the pets' volumes and reservations (needs -f)")
				f.BoolP("force", "f", false, "confirm --purge: the pets' data is destroyed")
				petsetWaitFlags(f)
			}},
		cmdSpec{use: "ls", short: "List sets", args: cobra.NoArgs, run: restListing(petsAPI, fixedPath("/v1/petsets"), "", petsetsTable)},
		cmdSpec{use: "show ID", short: "Show a set and its pets", args: cobra.ExactArgs(1), run: runPetsetShow},
	)
}

// petsetWaitFlags adds what every command that changes a set takes.
func petsetWaitFlags(f *pflag.FlagSet) {
	f.Bool("wait", false, "wait until the set is ready (or gone), showing its progress")
	f.Duration("timeout", 10*time.Minute, "with --wait, give up after this long")
}

func runPetsetCreate(cmd *cobra.Command, _ []string) error {
	c := petsAPI.client(cmd)
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
	c := petsAPI.client(cmd)
	body, _ := json.Marshal(map[string]int{"instances": n})
	if err := c.call(http.MethodPost, "/v1/petsets/"+args[0]+"/scale", body, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pet set %s scaling to %d\n", args[0], n)
	return afterPetsetChange(cmd, c, args[0], false)
}

func runPetsetPetAction(cmd *cobra.Command, args []string) error {
	c := petsAPI.client(cmd)
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
	c := petsAPI.client(cmd)
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
	p := newProgress(out)
	deadline := time.Now().Add(timeout)
	for {
		var v pets.PetSetView
		err := c.call(http.MethodGet, "/v1/petsets/"+id, nil, &v)
		switch {
		case err != nil && deleting && strings.Contains(err.Error(), "does not exist"):
			p.end()
			fmt.Fprintf(out, "pet set %s deleted\n", id)
			return nil
		case err != nil:
			return err
		}
		p.show(petsetProgress(&v))
		if !deleting && v.Status == "ready" {
			p.end()
			fmt.Fprintf(out, "pet set %s ready: %d/%d pets at revision %d\n", id, v.ReadyPets, v.Instances, v.Revision)
			return nil
		}
		if time.Now().After(deadline) {
			p.end()
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
	line := gauge(filled, width) + fmt.Sprintf(" %s: %s, %d/%d ready, %d at revision %d",
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

func petsetsTable(sets []pets.PetSetView) *table {
	t := newTable("ID", "PETS", "READY", "REVISION", "UPDATED", "STATUS", "POLICY", "UPDATE", "ROLE", "IMAGE")
	for _, s := range sets {
		update := s.UpdateStrategy.Type
		if s.UpdateStrategy.Type == pets.RollingUpdate && s.UpdateStrategy.Partition > 0 {
			update += fmt.Sprintf(" (partition %d)", s.UpdateStrategy.Partition)
		}
		t.add(s.ID, s.Instances, s.ReadyPets, s.Revision, s.UpdatedPets, s.Status, s.PodManagementPolicy, update, s.Role, dash(s.Image))
	}
	return t
}

func runPetsetShow(cmd *cobra.Command, args []string) error {
	var v pets.PetSetView
	if err := petsAPI.client(cmd).call(http.MethodGet, "/v1/petsets/"+args[0], nil, &v); err != nil {
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
	t := newTable("PET", "PHASE", "READY", "REVISION", "HOST", "PORTS", "VOLUMES", "TASK", "WAITING")
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
		t.add(p.Name, phase, p.Ready, p.Revision, dash(p.Host), dash(strings.Join(ports, ",")), dash(strings.Join(vols, ",")), dash(p.TaskID), waiting)
	}
	return t.print(w)
}
