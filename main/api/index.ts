/** Every API handler, one module per area. A method missing here is a type error. */
import type { Handlers } from './router';
import { appHandlers } from './app';
import { settingsHandlers } from './settings';
import { systemHandlers } from './system';
import { workspaceHandlers } from './workspace';
import { jobsHandlers } from './jobs';
import { datasetsHandlers } from './datasets';
import { resectionHandlers } from './resection';
import { modelsHandlers } from './models';
import { atlasHandlers } from './atlas';
import { saeTrainHandlers } from './sae-train';
import { saeHandlers } from './sae';

export const handlers: Handlers = {
  ...appHandlers,
  ...settingsHandlers,
  ...systemHandlers,
  ...workspaceHandlers,
  ...jobsHandlers,
  ...datasetsHandlers,
  ...resectionHandlers,
  ...modelsHandlers,
  ...atlasHandlers,
  ...saeTrainHandlers,
  ...saeHandlers,
};
