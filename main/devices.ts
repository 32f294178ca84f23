/**
 * Execution providers this machine can run. onnxruntime-node bundles CPU and WebGPU; others (CUDA, TensorRT) need
 * a provider library next to the binding, which is counted available only when the file is there.
 */
import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { DeviceChoice, DeviceInfo } from '../common/api';

const LABELS: Record<DeviceChoice, string> = {
  auto: 'Automatic (best available GPU, else CPU)',
  cpu: 'CPU',
  webgpu: 'WebGPU',
  cuda: 'NVIDIA CUDA',
  tensorrt: 'NVIDIA TensorRT',
  dml: 'DirectML',
  coreml: 'Core ML',
};

/** File name fragment of each non-bundled provider's shared library. */
const PROVIDER_LIBS: Partial<Record<DeviceChoice, string>> = {
  cuda: 'onnxruntime_providers_cuda',
  tensorrt: 'onnxruntime_providers_tensorrt',
};

interface OrtBackend {
  name: string;
  bundled: boolean;
}

function ortBindingDir(): string | null {
  try {
    // CommonJS bundles (Electron main) have `require`; ESM has import.meta.
    const req = typeof require === 'function' ? require : createRequire(import.meta.url);
    const pkg = req.resolve('onnxruntime-node/package.json');
    const dir = path.join(path.dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(dir) ? dir : null;
  } catch {
    return null;
  }
}

function libraryPresent(fragment: string): boolean {
  const dir = ortBindingDir();
  if (!dir) return false;
  try {
    return readdirSync(dir).some((f) => f.includes(fragment));
  } catch {
    return false;
  }
}

export async function listDevices(): Promise<DeviceInfo[]> {
  let backends: OrtBackend[] = [];
  let loadError: string | null = null;
  try {
    const ort = (await import('onnxruntime-node')) as unknown as { listSupportedBackends?: () => OrtBackend[] };
    backends = ort.listSupportedBackends?.() ?? [{ name: 'cpu', bundled: true }];
  } catch (e) {
    loadError = (e as Error).message;
  }
  const out: DeviceInfo[] = [{ id: 'auto', label: LABELS.auto, available: true }];
  const seen = new Set<string>();
  for (const b of backends) {
    const id = b.name as DeviceChoice;
    if (!(id in LABELS) || seen.has(id) || id === 'auto') continue;
    seen.add(id);
    if (b.bundled) {
      out.push({ id, label: LABELS[id], available: true });
    } else {
      const lib = PROVIDER_LIBS[id];
      const present = lib ? libraryPresent(lib) : false;
      out.push({
        id,
        label: LABELS[id],
        available: present,
        ...(present ? {} : { note: 'Supported by onnxruntime-node on this platform, but its provider library is not installed' }),
      });
    }
  }
  if (!seen.has('cpu')) {
    out.push({ id: 'cpu', label: LABELS.cpu, available: loadError === null, ...(loadError ? { note: `onnxruntime-node failed to load: ${loadError}` } : {}) });
  }
  return out;
}
