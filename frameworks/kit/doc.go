// Package kit holds what the bundled frameworks (service, pets, batch)
// share around their domain logic: JSON answers for their REST APIs and
// readiness probes. Each framework keeps its own scheduling; the kit keeps
// the plumbing from being written three times.
package kit
