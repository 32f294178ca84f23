/** JSON files of SAE folders and caches, replaced atomically (write a temporary file, then rename). */
import { rename, writeFile } from 'node:fs/promises';

export async function writeJsonAtomic(file: string, value: unknown, indent = 2): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(value, null, indent)}\n`);
  await rename(tmp, file);
}
