/**
 * Chat templates (tokenizer_config.json `chat_template`, a Jinja template as transformers renders it), rendered with
 * @huggingface/jinja, the implementation written for exactly these templates. A chat model's prompt is its
 * conversation rendered through the template; a base model has none and is prompted with plain text.
 */
import { Template } from '@huggingface/jinja';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** The template to use: `chat_template` as a string, or the one named "default" of a list (else the first). */
export function chatTemplateOf(config: Record<string, unknown>): string | null {
  const t = config.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.filter((x): x is { name: string; template: string } => typeof x?.name === 'string' && typeof x?.template === 'string');
    return (named.find((x) => x.name === 'default') ?? named[0])?.template ?? null;
  }
  return null;
}

export class ChatTemplateError extends Error {
  override readonly name = 'ChatTemplateError';
}

/** Render a conversation (the variables transformers passes: messages, bos/eos_token, add_generation_prompt). */
export function renderChat(template: string, messages: readonly ChatMessage[], o: { bos_token: string; eos_token: string; addGenerationPrompt: boolean }): string {
  let compiled: Template;
  try {
    compiled = new Template(template);
  } catch (e) {
    throw new ChatTemplateError(`chat_template: cannot parse (${(e as Error).message})`);
  }
  try {
    return compiled.render({ messages: messages.map((m) => ({ ...m })), bos_token: o.bos_token, eos_token: o.eos_token, add_generation_prompt: o.addGenerationPrompt });
  } catch (e) {
    // Templates raise their own errors (raise_exception), e.g. "roles must alternate user/assistant".
    throw new ChatTemplateError(`chat_template: ${(e as Error).message}`);
  }
}
