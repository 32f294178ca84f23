// Arithmetic on dims that may be symbolic. A symbolic dim is a product of named factors and an integer
// coefficient, written canonically ('batch*time', '4*batch'), so that reshapes such as [batch, time, d] ->
// [-1, d] -> [batch, time, d] keep exact shapes.
import { type Dim, type Shape, GraphError, fmtShape } from './graph';

interface Mono { coef: number; syms: string[] }

function parse(d: Dim): Mono {
  if (typeof d === 'number') return { coef: d, syms: [] };
  let coef = 1;
  const syms: string[] = [];
  for (const f of d.split('*')) {
    if (/^\d+$/.test(f)) coef *= Number(f);
    else syms.push(f);
  }
  return { coef, syms: syms.sort() };
}

function show(m: Mono): Dim {
  if (m.syms.length === 0) return m.coef;
  return [...(m.coef === 1 ? [] : [String(m.coef)]), ...m.syms].join('*');
}

export const isStatic = (d: Dim): d is number => typeof d === 'number';
export const allStatic = (s: Shape): s is number[] => s.every(isStatic);

export function dimMul(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  const x = parse(a);
  const y = parse(b);
  if (x.coef === 0 || y.coef === 0) return 0;
  return show({ coef: x.coef * y.coef, syms: [...x.syms, ...y.syms].sort() });
}

/** a / b when it divides exactly; null when it is not known to. */
export function dimDiv(a: Dim, b: Dim): Dim | null {
  if (typeof a === 'number' && typeof b === 'number') return b !== 0 && a % b === 0 ? a / b : null;
  const x = parse(a);
  const y = parse(b);
  if (y.coef === 0 || x.coef % y.coef !== 0) return null;
  const syms = [...x.syms];
  for (const s of y.syms) {
    const i = syms.indexOf(s);
    if (i < 0) return null;
    syms.splice(i, 1);
  }
  return show({ coef: x.coef / y.coef, syms });
}

export const dimEq = (a: Dim, b: Dim): boolean => a === b || (typeof a === 'string' && typeof b === 'string' && show(parse(a)) === show(parse(b)));

const plainName = (d: Dim): boolean => typeof d === 'string' && /^[A-Za-z_]\w*$/.test(d);

/**
 * Whether two dims may be equal at run time: two sizes or two plain names must match; derived or unknown
 * dims ('batch*time', 'reshape?3') may equal anything.
 */
export function dimsCompatible(a: Dim, b: Dim): boolean {
  if (dimEq(a, b)) return true;
  if (typeof a === 'number' && typeof b === 'number') return false;
  return !(plainName(a) && plainName(b));
}

export const numel = (s: Shape): Dim => s.reduce<Dim>((a, b) => dimMul(a, b), 1);

/** Normalises a possibly negative axis against a rank, with an error that names the op. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new GraphError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/**
 * Numpy broadcasting of shapes. A named dim against a static one > 1 is taken to equal it (the name must be 1
 * or that size at run time); two different names broadcast to the first, and autodiff then undoes the
 * broadcast at run time rather than trusting the guess.
 */
export function broadcastShapes(op: string, shapes: { name: string; shape: Shape }[]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.shape.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const { shape } of shapes) {
      const k = i - (rank - shape.length);
      if (k < 0) continue;
      const e = shape[k]!;
      if (e === 1 || dimEq(e, d)) continue;
      if (d === 1) { d = e; continue; }
      if (typeof d === 'number' && typeof e === 'number') {
        const desc = shapes.map((s) => `${s.name} ${fmtShape(s.shape)}`).join(' and ');
        throw new GraphError(`${op}: cannot broadcast ${desc}: dims ${d} and ${e} differ at axis ${i - rank}`);
      }
      if (typeof d === 'string' && typeof e === 'number') d = e;
    }
    out.push(d);
  }
  return out;
}
