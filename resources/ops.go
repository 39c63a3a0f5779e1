package resources

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

// A Conversion turns Consumed into Converted: what a reservation, an
// unreservation, a volume's creation or destruction does to an agent's
// resources (and to an offer's).
type Conversion struct {
	Consumed, Converted Resources
}

// Apply returns r with c applied, or an error if r does not hold what c
// consumes.
func (r Resources) Apply(c Conversion) (Resources, error) {
	if !r.Contains(c.Consumed) {
		return nil, fmt.Errorf("%s does not contain %s", r, c.Consumed)
	}
	return r.Subtract(c.Consumed).Add(c.Converted), nil
}

// PopReservation returns a copy of x without its last (most refined)
// reservation.
func PopReservation(x *mesospb.Resource) *mesospb.Resource {
	y := proto.CloneOf(Normalize(x))
	if n := len(y.Reservations); n > 0 {
		y.Reservations = y.Reservations[:n-1]
	}
	return y
}

// StripVolume returns a copy of x without its persistent volume.
func StripVolume(x *mesospb.Resource) *mesospb.Resource {
	y := proto.CloneOf(x)
	if y.Disk != nil {
		y.Disk.Persistence, y.Disk.Volume = nil, nil
		if y.Disk.Source == nil {
			y.Disk = nil
		}
	}
	return y
}

// IsVolume reports whether x is a persistent volume.
func IsVolume(x *mesospb.Resource) bool { return x.GetDisk().GetPersistence().GetId() != "" }

// IsDynamicallyReserved reports whether x carries a dynamic reservation.
func IsDynamicallyReserved(x *mesospb.Resource) bool {
	for _, r := range Normalize(x).GetReservations() {
		if r.GetType() == mesospb.Resource_ReservationInfo_DYNAMIC {
			return true
		}
	}
	return false
}

// Reserve is the conversion of RESERVE: each resource's source is itself
// without its last reservation, which must be dynamic.
func Reserve(res Resources) (Conversion, error) {
	var c Conversion
	for _, x := range res {
		x = Normalize(x)
		n := len(x.GetReservations())
		switch {
		case n == 0:
			return c, fmt.Errorf("%s carries no reservation to make", Format(Resources{x}))
		case x.GetReservations()[n-1].GetType() != mesospb.Resource_ReservationInfo_DYNAMIC:
			return c, fmt.Errorf("%s: only dynamic reservations can be made", Format(Resources{x}))
		case IsVolume(x):
			return c, errors.New("a persistent volume cannot be reserved; reserve the disk, then create the volume")
		}
		c.Consumed = c.Consumed.Add(Resources{PopReservation(x)})
		c.Converted = c.Converted.Add(Resources{x})
	}
	return c, nil
}

// Unreserve is the conversion of UNRESERVE: the last, dynamic reservation
// of each resource is removed.
func Unreserve(res Resources) (Conversion, error) {
	var c Conversion
	for _, x := range res {
		x = Normalize(x)
		n := len(x.GetReservations())
		switch {
		case n == 0 || x.GetReservations()[n-1].GetType() != mesospb.Resource_ReservationInfo_DYNAMIC:
			return c, fmt.Errorf("%s is not dynamically reserved", Format(Resources{x}))
		case IsVolume(x):
			return c, fmt.Errorf("%s is a persistent volume: destroy it before unreserving its disk", Format(Resources{x}))
		}
		c.Consumed = c.Consumed.Add(Resources{x})
		c.Converted = c.Converted.Add(Resources{PopReservation(x)})
	}
	return c, nil
}

// Create is the conversion of CREATE: reserved disk becomes persistent
// volumes.
func Create(volumes Resources) (Conversion, error) {
	var c Conversion
	for _, x := range volumes {
		x = Normalize(x)
		if err := validateVolume(x); err != nil {
			return c, err
		}
		c.Consumed = c.Consumed.Add(Resources{StripVolume(x)})
		c.Converted = c.Converted.Add(Resources{x})
	}
	return c, nil
}

// Destroy is the conversion of DESTROY: volumes go back to reserved disk.
func Destroy(volumes Resources) (Conversion, error) {
	c, err := Create(volumes)
	return Conversion{Consumed: c.Converted, Converted: c.Consumed}, err
}

func validateVolume(x *mesospb.Resource) error {
	switch {
	case x.GetName() != "disk" || x.GetType() != mesospb.Value_SCALAR:
		return fmt.Errorf("a persistent volume must be scalar disk, not %s", x.GetName())
	case !IsVolume(x):
		return errors.New("a persistent volume needs 'disk.persistence.id'")
	case ReservedRole(x) == "":
		return fmt.Errorf("persistent volume %s must be on reserved disk", x.GetDisk().GetPersistence().GetId())
	}
	path := x.GetDisk().GetVolume().GetContainerPath()
	if err := ValidateContainerPath(path); err != nil {
		return fmt.Errorf("persistent volume %s: %w", x.GetDisk().GetPersistence().GetId(), err)
	}
	return ValidatePathName("persistence id", x.GetDisk().GetPersistence().GetId())
}

// ValidateContainerPath checks a volume's path inside a sandbox: relative,
// and staying inside it.
func ValidateContainerPath(path string) error {
	switch {
	case path == "":
		return errors.New("'disk.volume.container_path' is required")
	case path[0] == '/':
		return fmt.Errorf("container path %q must be relative to the sandbox", path)
	}
	for _, part := range splitPath(path) {
		if part == ".." {
			return fmt.Errorf("container path %q must not leave the sandbox", path)
		}
	}
	return nil
}

func splitPath(p string) []string {
	var parts []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			parts = append(parts, p[start:i])
			start = i + 1
		}
	}
	return parts
}

// ValidatePathName checks an identifier used as a path component (a
// persistence ID): no slashes, no dot names, no control characters.
func ValidatePathName(what, id string) error {
	if id == "" || id == "." || id == ".." {
		return fmt.Errorf("invalid %s %q", what, id)
	}
	for _, r := range id {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("invalid %s %q: it must not contain %q", what, id, r)
		}
	}
	return nil
}

// ApplyCheckpointed rebuilds an agent's total from its configured
// resources and its checkpointed ones (dynamic reservations, volumes):
// each checkpointed resource replaces its unreserved or statically
// reserved base. Entries whose base is missing are returned as rejected.
func ApplyCheckpointed(static, checkpointed Resources) (total, rejected Resources) {
	total = static.Clone()
	for _, x := range checkpointed {
		base := StripVolume(Normalize(x))
		for IsDynamicallyReserved(base) {
			base = PopReservation(base)
		}
		next, err := total.Apply(Conversion{Consumed: Resources{base}, Converted: Resources{x}})
		if err != nil {
			rejected = append(rejected, x)
			continue
		}
		total = next
	}
	return total, rejected
}

// Checkpointed returns what of r an agent must checkpoint: dynamically
// reserved resources and persistent volumes.
func (r Resources) Checkpointed() Resources {
	return r.Filter(func(x *mesospb.Resource) bool { return IsDynamicallyReserved(x) || IsVolume(x) })
}
