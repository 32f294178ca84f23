/**
 * Evaluate a trained Monet checkpoint in eval mode (running BN stats, the engine's `buildMonetForward`) on labelled
 * held-out text: per-domain loss / perplexity, and routing statistics per router (spec §4.8): uniformity, ambiguity,
 * mean selected sub-experts per head and side, dead sub-experts, and how concentrated composite experts are per
 * domain: for domain D, the share of D's routing mass (head-summed S[i,j] = Σ_h g1[h,i]·g2[h,j], averaged over D's
 * tokens) that lies on experts whose mean routing probability for D is ≥ 2× that of every other domain.
 */
import { compile } from '../engine';
import { openMonetCheckpoint } from '../models/monet/checkpoint';
import { buildMonetForward } from '../models/monet/forward';
import { loadTokenizer } from '../tokenizer';
import { readCorpus, tokenizeDocs, packStream, sequenceBatch } from './data';

export interface RouterReport {
  router: number;
  layer: number;
  /** −mean log(p̄ + ε) over heads, sub-experts and sides; minimum log E. */
  uniformity: number;
  ambiguity: number;
  meanSelected: number;
  /** Sub-experts (per side) never selected by any head on any evaluated token. */
  deadSubExperts: { side1: number; side2: number; of: number };
  /** (head, sub-expert) pairs never selected. */
  deadHeadSubExperts: { side1: number; side2: number; of: number };
  /**
   * Per domain: share of routing mass on experts specialised to it (≥ 2× every other domain), how many experts, and
   * `expertShare` = those experts / `activeExperts`.
   */
  concentration: Record<string, { share: number; experts: number; expertShare: number }>;
  /** Composite experts (i, j) with non-zero routing mass on at least one evaluated token (of E²). */
  activeExperts: number;
  /** Per domain: sub-experts (both sides) that pass the 2× rule / sub-experts active on some token (both sides). */
  subExpertShare: Record<string, { experts: number; active: number; expertShare: number }>;
  /** The same at sub-expert level (side 1 and side 2 averaged). */
  subExpertConcentration: Record<string, number>;
}

export interface EvalReport {
  model: string;
  tokensPerDomain: Record<string, number>;
  domains: Record<string, { loss: number; ppl: number; tokens: number }>;
  mean: { loss: number; ppl: number };
  routers: RouterReport[];
  seqLen: number;
  uniformityEps: number;
  logE: number;
}

export async function evaluateModel(o: {
  modelDir: string; heldout: string[]; tokenizerDir?: string; seqLen?: number; batch?: number; maxSeqsPerDomain?: number;
  log?: (line: string) => void; eps?: number;
}): Promise<EvalReport> {
  const ckpt = await openMonetCheckpoint(o.modelDir);
  const c = ckpt.config;
  const T = o.seqLen ?? 256;
  const B = o.batch ?? 8;
  const eps = o.eps ?? 1e-6;
  const tok = await loadTokenizer(o.tokenizerDir ?? o.modelDir);
  const eos = tok.eosId ?? tok.padId;
  const docs = (await Promise.all(o.heldout.map(readCorpus))).flat();
  const td = await tokenizeDocs(docs, tok, 'eval');
  const graph = await buildMonetForward(ckpt, { routerOutputs: true });
  const model = await compile(graph, { provider: 'cpu' });
  const H = c.moe_heads;
  const E = c.moe_experts;
  const V = c.vocab_size;
  const R = ckpt.dims.routerLayers.length;
  const D = td.domains.length;
  // Accumulators per router.
  const pbar = Array.from({ length: R }, () => [new Float64Array(H * E), new Float64Array(H * E)]);
  const sub = Array.from({ length: R }, () => Array.from({ length: D }, () => [new Float64Array(E), new Float64Array(E)]));
  const comp = Array.from({ length: R }, () => Array.from({ length: D }, () => new Float64Array(E * E)));
  const amb = new Float64Array(R);
  const selected = new Float64Array(R);
  const domTokens = new Float64Array(D);
  const domains: EvalReport['domains'] = {};
  let allLoss = 0;
  let allTok = 0;
  let routedTokens = 0;
  for (let k = 0; k < D; k++) {
    const dom = td.domains[k]!;
    const ids: number[] = [];
    td.docDomain.forEach((x, i) => { if (x === k) ids.push(i); });
    const stream = packStream(td, ids, eos);
    const nSeq = Math.min(o.maxSeqsPerDomain ?? Infinity, Math.max(1, Math.ceil((stream.length - 1) / T)));
    let loss = 0;
    let count = 0;
    for (let s0 = 0; s0 < nSeq; s0 += B) {
      const rows = Math.min(B, nSeq - s0);
      const starts = Array.from({ length: rows }, (_, b) => (s0 + b) * T);
      const batch = sequenceBatch(stream, starts, T, tok.padId);
      const r = await model.run({ input_ids: batch.input_ids });
      const logits = r.logits!.data as Float32Array;
      for (let n = 0; n < rows * T; n++) {
        if (batch.valid.data[n] === 0) continue;
        const label = Number(batch.labels.data[n]);
        if (label >= 0) {
          let mx = -Infinity;
          const off = n * V;
          for (let v = 0; v < V; v++) if (logits[off + v]! > mx) mx = logits[off + v]!;
          let se = 0;
          for (let v = 0; v < V; v++) se += Math.exp(logits[off + v]! - mx);
          loss += mx + Math.log(se) - logits[off + label]!;
          count++;
        }
        // Routing statistics for every real token.
        domTokens[k]!++;
        routedTokens++;
        for (let ri = 0; ri < R; ri++) {
          const g1 = r[`router.${ri}.g1`]!.data as Float32Array;
          const g2 = r[`router.${ri}.g2`]!.data as Float32Array;
          const base = n * H * E;
          for (let h = 0; h < H; h++) {
            let m1 = 0;
            let m2 = 0;
            const nz1: number[] = [];
            const nz2: number[] = [];
            for (let e = 0; e < E; e++) {
              const a = g1[base + h * E + e]!;
              const b = g2[base + h * E + e]!;
              if (a > 0) { nz1.push(e); pbar[ri]![0]![h * E + e]! += a; sub[ri]![k]![0]![e]! += a; if (a > m1) m1 = a; }
              if (b > 0) { nz2.push(e); pbar[ri]![1]![h * E + e]! += b; sub[ri]![k]![1]![e]! += b; if (b > m2) m2 = b; }
            }
            amb[ri]! += (1 - m1 + 1 - m2) / (2 * H);
            selected[ri]! += (nz1.length + nz2.length) / (2 * H);
            const cm = comp[ri]![k]!;
            for (const i of nz1) {
              const a = g1[base + h * E + i]!;
              for (const j of nz2) cm[i * E + j]! += a * g2[base + h * E + j]!;
            }
          }
        }
      }
    }
    domains[dom] = { loss: loss / Math.max(1, count), ppl: Math.exp(loss / Math.max(1, count)), tokens: count };
    allLoss += loss;
    allTok += count;
    o.log?.(`eval ${dom}: loss ${(loss / Math.max(1, count)).toFixed(4)} ppl ${Math.exp(loss / Math.max(1, count)).toFixed(2)} (${count} tokens)`);
  }
  const routers: RouterReport[] = [];
  for (let ri = 0; ri < R; ri++) {
    let unif = 0;
    let deadHS = [0, 0];
    const deadS = [0, 0];
    for (let s = 0; s < 2; s++) {
      const p = pbar[ri]![s]!;
      for (let x = 0; x < H * E; x++) {
        unif += -Math.log(p[x]! / routedTokens + eps);
        if (p[x] === 0) deadHS[s]!++;
      }
      for (let e = 0; e < E; e++) {
        let any = false;
        for (let h = 0; h < H; h++) if (p[h * E + e]! > 0) any = true;
        if (!any) deadS[s]!++;
      }
    }
    deadHS = [deadHS[0]!, deadHS[1]!];
    const concentration: RouterReport['concentration'] = {};
    const subConc: Record<string, number> = {};
    const subShare: RouterReport['subExpertShare'] = {};
    let activeExperts = 0;
    for (let x = 0; x < E * E; x++) {
      for (let k = 0; k < D; k++) if (comp[ri]![k]![x]! > 0) { activeExperts++; break; }
    }
    let activeSub = 0;
    for (let s = 0; s < 2; s++) {
      for (let e = 0; e < E; e++) {
        for (let k = 0; k < D; k++) if (sub[ri]![k]![s]![e]! > 0) { activeSub++; break; }
      }
    }
    for (let k = 0; k < D; k++) {
      const mine = comp[ri]![k]!;
      let total = 0;
      let special = 0;
      let experts = 0;
      for (let x = 0; x < E * E; x++) {
        const v = mine[x]! / domTokens[k]!;
        total += v;
        if (v <= 0) continue;
        let other = 0;
        for (let k2 = 0; k2 < D; k2++) if (k2 !== k) other = Math.max(other, comp[ri]![k2]![x]! / domTokens[k2]!);
        if (v >= 2 * other) { special += v; experts++; }
      }
      concentration[td.domains[k]!] = { share: special / total, experts, expertShare: experts / Math.max(1, activeExperts) };
      let sShare = 0;
      let sExperts = 0;
      for (let s = 0; s < 2; s++) {
        let st = 0;
        let ss = 0;
        for (let e = 0; e < E; e++) {
          const v = sub[ri]![k]![s]![e]! / domTokens[k]!;
          st += v;
          let other = 0;
          for (let k2 = 0; k2 < D; k2++) if (k2 !== k) other = Math.max(other, sub[ri]![k2]![s]![e]! / domTokens[k2]!);
          if (v > 0 && v >= 2 * other) { ss += v; sExperts++; }
        }
        sShare += ss / st / 2;
      }
      subConc[td.domains[k]!] = sShare;
      subShare[td.domains[k]!] = { experts: sExperts, active: activeSub, expertShare: sExperts / Math.max(1, activeSub) };
    }
    routers.push({
      router: ri, layer: ckpt.dims.routerLayers[ri]!, uniformity: unif / (2 * H * E), ambiguity: amb[ri]! / routedTokens,
      meanSelected: selected[ri]! / routedTokens, deadSubExperts: { side1: deadS[0]!, side2: deadS[1]!, of: E },
      deadHeadSubExperts: { side1: deadHS[0]!, side2: deadHS[1]!, of: H * E }, concentration, subExpertConcentration: subConc,
      activeExperts, subExpertShare: subShare,
    });
  }
  await model.dispose().catch(() => {});
  await ckpt.close();
  return {
    model: o.modelDir, tokensPerDomain: Object.fromEntries(td.domains.map((d, k) => [d, domTokens[k]!])), domains,
    mean: { loss: allLoss / Math.max(1, allTok), ppl: Math.exp(allLoss / Math.max(1, allTok)) }, routers, seqLen: T, uniformityEps: eps, logE: Math.log(E),
  };
}
