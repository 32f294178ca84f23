/**
 * A user action that can fail, for forms and buttons: `busy` while it runs (controls disable on it), `error` the
 * readable reason of the last failure, cleared when the next run starts. `run` resolves to the action's result, or
 * undefined when it failed (the reason is then in `error`, never thrown at the template).
 */
import { ref } from 'vue';
import { describeError } from '../api/errors';

export function useAction() {
  const busy = ref(false);
  const error = ref<string | null>(null);
  async function run<T>(action: () => Promise<T>): Promise<T | undefined> {
    error.value = null;
    busy.value = true;
    try {
      return await action();
    } catch (e) {
      error.value = describeError(e);
      return undefined;
    } finally {
      busy.value = false;
    }
  }
  return { busy, error, run };
}
