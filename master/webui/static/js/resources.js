// Arithmetic on Mesos Resource lists as the operator API renders them in
// JSON: {name, type, scalar: {value}, ranges: {range: [{begin, end}]},
// allocation_info: {role}, reservations: [{role, ...}]}.

// SCALARS are the resources the UI charts, in display order.
export const SCALARS = ['cpus', 'mem', 'disk', 'gpus'];

// scalars sums the scalar resources of a list by name (ports count as the
// number of ports).
export function scalars(resources) {
  const out = {};
  for (const r of resources || []) {
    let v = 0;
    if (r.type === 'SCALAR' || r.scalar) v = Number(r.scalar?.value || 0);
    else if (r.ranges) v = (r.ranges.range || []).reduce((n, x) => n + Number(x.end) - Number(x.begin) + 1, 0);
    else continue;
    out[r.name] = (out[r.name] || 0) + v;
  }
  return out;
}

export function add(a, b) {
  const out = { ...a };
  for (const [k, v] of Object.entries(b || {})) out[k] = (out[k] || 0) + v;
  return out;
}

// role is the role a resource is allocated to (tasks' and offers'
// resources), else the role it is reserved for, else "*".
export function role(r) {
  if (r.allocation_info?.role) return r.allocation_info.role;
  const res = r.reservations || [];
  if (res.length > 0 && res[res.length - 1].role) return res[res.length - 1].role;
  return r.role || '*';
}

// reservedRole is the role a resource is reserved for, or "" if unreserved.
export function reservedRole(r) {
  const res = r.reservations || [];
  if (res.length > 0) return res[res.length - 1].role || '';
  return r.role && r.role !== '*' ? r.role : '';
}

// byRole groups scalars by role.
export function byRole(resources, roleOf = role) {
  const out = {};
  for (const r of resources || []) {
    const k = roleOf(r);
    out[k] = add(out[k], scalars([r]));
  }
  return out;
}

function rangesText(r) {
  return '[' + (r.ranges?.range || []).map((x) => x.begin === x.end ? String(x.begin) : x.begin + '-' + x.end).join(', ') + ']';
}

// describe renders a resource list in Mesos' text form, one entry per
// resource with its reservation and volume noted.
export function describe(resources) {
  return (resources || []).map((r) => {
    let v = r.ranges ? rangesText(r) : r.set ? '{' + (r.set.item || []).join(', ') + '}' : formatScalar(r.name, Number(r.scalar?.value || 0));
    const reserved = reservedRole(r);
    let s = r.name;
    if (reserved) s += '(' + reserved + ')';
    if (r.disk?.persistence?.id) s += '[' + r.disk.persistence.id + ']';
    return s + ': ' + v;
  }).join('; ');
}

function formatScalar(name, v) {
  const n = Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/\.?0+$/, '');
  return name === 'mem' || name === 'disk' ? n + ' MB' : n;
}
