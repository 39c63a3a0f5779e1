package allocator

import (
	"math"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// The allocator does its arithmetic on fixed vectors of the scalars that
// shares and quota are about; the protobuf resources are touched only to
// split an agent's resources and to build the offers.
type kind int

const (
	kindCPUs kind = iota
	kindMem
	kindDisk
	kindGPUs
	numKinds
)

// Kinds are the scalar resource names shares and quota are measured in.
var Kinds = [numKinds]string{"cpus", "mem", "disk", "gpus"}

func kindOf(name string) (kind, bool) {
	switch name {
	case "cpus":
		return kindCPUs, true
	case "mem":
		return kindMem, true
	case "disk":
		return kindDisk, true
	case "gpus":
		return kindGPUs, true
	}
	return 0, false
}

type qty [numKinds]float64

// unlimited is the limit of a role without one.
var unlimited = qty{math.Inf(1), math.Inf(1), math.Inf(1), math.Inf(1)}

func quantitiesOf(r resources.Resources) qty {
	var q qty
	for _, x := range r {
		if x.GetType() != mesospb.Value_SCALAR {
			continue
		}
		if k, ok := kindOf(x.GetName()); ok {
			q[k] += x.GetScalar().GetValue()
		}
	}
	return q
}

func qtyFromMap(m map[string]float64, fill float64) qty {
	q := qty{fill, fill, fill, fill}
	for name, v := range m {
		if k, ok := kindOf(name); ok {
			q[k] = v
		}
	}
	return q
}

func (q qty) plus(o qty) qty {
	for i := range q {
		q[i] += o[i]
	}
	return q
}

func (q qty) minus(o qty) qty {
	for i := range q {
		q[i] -= o[i]
	}
	return q
}

// dominant is the largest fraction of total that q holds over the kinds
// that count toward fair shares.
func (q qty) dominant(total qty, counted *[numKinds]bool) float64 {
	d := 0.0
	for i, t := range total {
		if t > 0 && counted[i] {
			d = max(d, q[i]/t)
		}
	}
	return d
}

// epsilon absorbs float error in the fixed-point (milli) quantities.
const epsilon = 5e-4

// positive clamps q at zero from below.
func (q qty) positive() qty {
	for i := range q {
		if q[i] < epsilon {
			q[i] = 0
		}
	}
	return q
}
