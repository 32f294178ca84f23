// Batches for MonetModel.forward, kept apart from model.ts so callers can build them without loading ONNX Runtime.

export interface PaddedBatch {
  /** Token ids [batch, time], row-major. */
  ids: BigInt64Array;
  /** 1 = real token, 0 = padding, [batch, time]. */
  attention: Uint8Array;
  batch: number;
  time: number;
}

/**
 * Right-pads rows of token ids into one batch: ids [batch, time] (padding `padId`) and the attention mask
 * (1 = real token). Row b's token t is at b·time + t in every [batch, time] array the forward returns.
 */
export function padRows(rows: readonly (readonly number[])[], padId = 0): PaddedBatch {
  const batch = rows.length;
  const time = Math.max(...rows.map((r) => r.length));
  const ids = new BigInt64Array(batch * time).fill(BigInt(padId));
  const attention = new Uint8Array(batch * time);
  rows.forEach((r, b) => r.forEach((id, t) => { ids[b * time + t] = BigInt(id); attention[b * time + t] = 1; }));
  return { ids, attention, batch, time };
}
