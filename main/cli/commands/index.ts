/** Every CLI command. Adding one: write `main/cli/commands/<name>.ts` exporting a `register(program)`, list it here. */
import type { Command } from 'commander';
import { registerServe } from './serve';
import { registerJobs } from './jobs';
import { registerDevices } from './devices';
import { registerVersion } from './version';
import { registerData } from './data';
import { registerTrain } from './train';
import { registerForward } from './forward';
import { registerGenerate } from './generate';
import { registerPerplexity } from './perplexity';
import { registerMask } from './mask';
import { registerExperiment } from './experiment';
import { registerExport } from './export';
import { registerAtlas } from './atlas';
import { registerSae } from './sae';
import { registerGbaSyntheticExperiment } from './experiment-gba';
import { registerInspect } from './inspect';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [registerServe, registerJobs, registerDevices, registerVersion, registerData, registerInspect, registerForward, registerGenerate, registerPerplexity, registerTrain, registerAtlas, registerMask, registerExperiment, registerExport, registerSae, registerGbaSyntheticExperiment];
