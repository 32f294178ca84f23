/**
 * Every job kind Resect can run. Adding one is one line here plus its module (see docs/backend.md).
 * Keep heavy imports inside `run` (dynamic `import()`): the backend imports this table to validate params.
 */
import type { JobDefinition } from './types';
import { demoJob } from './demo';
import { datasetImportJob, datasetExportJob, datasetScoreJob } from '../data/jobs';
import { monetGenerateJob } from './monet-generate';
import { monetPerplexityJob } from './monet-perplexity';
import { monetInspectJob } from './monet-inspect';
import { monetRouteJob } from './monet-route';
import { monetTrainJob } from './monet-train';
import { resectionEvaluateJob, resectionExperimentJob, resectionExportJob } from './resection';
import { atlasBuildJob } from './atlas-build';
import { atlasContextsJob } from './atlas-contexts';
import { saeTrainJob } from './sae-train';
import { saeSyntheticJob } from './sae-synthetic';
import { saeCaptureJob, saeEncodeJob, saeEvalJob, saeImportActivationsJob, saeImportJob } from './sae-tools';

export const jobRegistry: Record<string, JobDefinition> = {
  demo: demoJob,
  'dataset.import': datasetImportJob,
  'dataset.export': datasetExportJob,
  'dataset.score': datasetScoreJob,
  'monet.generate': monetGenerateJob,
  'monet.perplexity': monetPerplexityJob,
  'monet.inspect': monetInspectJob,
  'monet.route': monetRouteJob,
  'monet.train': monetTrainJob,
  'resection.evaluate': resectionEvaluateJob,
  'resection.experiment': resectionExperimentJob,
  'resection.export': resectionExportJob,
  'atlas.build': atlasBuildJob,
  'atlas.contexts': atlasContextsJob,
  'sae.train': saeTrainJob,
  'sae.synthetic': saeSyntheticJob,
  'sae.capture': saeCaptureJob,
  'sae.importActivations': saeImportActivationsJob,
  'sae.import': saeImportJob,
  'sae.eval': saeEvalJob,
  'sae.encode': saeEncodeJob,
};
