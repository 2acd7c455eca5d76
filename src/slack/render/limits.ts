// Slack's Block Kit limits in one place. Slack refuses a whole message (`invalid_blocks`, `msg_too_long`) when
// one text object is a character too long, so every message and view the bot sends is fitted here first: each
// text object clamped to its own limit with "…(cut)", extra blocks dropped with a note. What was cut is kept
// (overflowOf) so the sender can post the full detail in the message's thread.
import type { KnownBlock } from '@slack/types';
import { clampMrkdwn, clampPlain, CUT_MARK } from '../../render/mrkdwn.ts';

/** The limits Slack enforces (api.slack.com/reference/block-kit), in characters unless named otherwise. */
export const SLACK_LIMITS = {
  /** Top-level `text` of chat.postMessage / chat.update (beyond it: `msg_too_long`). */
  messageText: 40_000,
  blocksPerMessage: 50,
  /** Modals and App Home. */
  blocksPerView: 100,
  sectionText: 3_000,
  sectionField: 2_000,
  sectionFields: 10,
  contextText: 3_000,
  contextElements: 10,
  headerText: 150,
  buttonText: 75,
  buttonValue: 2_000,
  optionText: 75,
  optionDescription: 75,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  inputLabel: 2_000,
  placeholder: 150,
  viewTitle: 24,
  viewButton: 24,
  privateMetadata: 3_000,
  /** block_id and action_id. */
  id: 255,
} as const;

/** A message as chat.postMessage takes it. */
export interface SlackMessage {
  text: string;
  blocks: KnownBlock[];
}

type TextObject = { type: 'mrkdwn' | 'plain_text'; text: string; [key: string]: unknown };
type Json = Record<string, unknown>;

// The full text of whatever a fitted message or view lost, kept beside the object (never sent to Slack).
const overflows = new WeakMap<object, string[]>();

/** What fitting cut from this message or view (full texts, in block order); empty when nothing was cut. */
export function overflowOf(fitted: object): string[] {
  return overflows.get(fitted) ?? [];
}

/** Fits a message to Slack's limits; overflowOf(result) has the full text of every part that was shortened. */
export function fitMessage(message: SlackMessage): SlackMessage {
  const cut: string[] = [];
  const text = clampPlainish(message.text === '' ? ' ' : message.text, SLACK_LIMITS.messageText, cut);
  const fitted = { text, blocks: fitBlocks(message.blocks, SLACK_LIMITS.blocksPerMessage, cut) };
  overflows.set(fitted, cut);
  return fitted;
}

/** Fits a modal or App Home view (100 blocks; title and buttons 24 characters). */
export function fitView<V extends { blocks: readonly unknown[]; title?: unknown; submit?: unknown; close?: unknown }>(view: V): V {
  const cut: string[] = [];
  const fitted: V = { ...view, blocks: fitBlocks(view.blocks as KnownBlock[], SLACK_LIMITS.blocksPerView, cut) };
  for (const key of ['title', 'submit', 'close'] as const) {
    if (isText(view[key])) (fitted as Json)[key] = fitText(view[key], SLACK_LIMITS.viewTitle, cut);
  }
  overflows.set(fitted, cut);
  return fitted;
}

/** A thread-reply text: chunks of at most Slack's message limit (a very long detail becomes several replies). */
export function replyChunks(text: string, max: number = SLACK_LIMITS.messageText - 100): string[] {
  const chunks: string[] = [];
  let rest = text;
  while (rest.length > max) {
    // Break at a line end when there is one in the second half of the chunk, else anywhere outside a surrogate pair.
    let end = rest.lastIndexOf('\n', max);
    if (end < max / 2) end = /[\uD800-\uDBFF]/.test(rest.charAt(max - 1)) ? max - 1 : max;
    chunks.push(rest.slice(0, end));
    rest = rest.slice(end).replace(/^\n/, '');
  }
  if (rest !== '' || chunks.length === 0) chunks.push(rest);
  return chunks;
}

function fitBlocks(blocks: readonly KnownBlock[], max: number, cut: string[]): KnownBlock[] {
  const kept = blocks.length > max ? blocks.slice(0, max - 1) : [...blocks];
  const fitted = kept.map((block) => fitBlock(block as unknown as Json, cut) as unknown as KnownBlock);
  if (blocks.length > max) {
    const dropped = blocks.slice(max - 1);
    cut.push(...dropped.flatMap((block) => textsOf(block)));
    fitted.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `${CUT_MARK} ${dropped.length} more part${dropped.length === 1 ? '' : 's'} did not fit in one Slack message.` }] });
  }
  return fitted;
}

function fitBlock(block: Json, cut: string[]): Json {
  const out: Json = { ...block };
  switch (block.type) {
    case 'section':
      if (isText(block.text)) out.text = fitText(block.text, SLACK_LIMITS.sectionText, cut);
      if (Array.isArray(block.fields)) {
        const fields = block.fields.slice(0, SLACK_LIMITS.sectionFields).map((field) => (isText(field) ? fitText(field, SLACK_LIMITS.sectionField, cut) : field));
        cut.push(...block.fields.slice(SLACK_LIMITS.sectionFields).flatMap((field) => (isText(field) ? [field.text] : [])));
        out.fields = fields;
      }
      if (isRecord(block.accessory)) out.accessory = fitElement(block.accessory, cut);
      break;
    case 'context':
      if (Array.isArray(block.elements)) {
        const elements = block.elements.slice(0, SLACK_LIMITS.contextElements);
        cut.push(...block.elements.slice(SLACK_LIMITS.contextElements).flatMap((element) => (isText(element) ? [element.text] : [])));
        out.elements = elements.map((element) => (isText(element) ? fitText(element, SLACK_LIMITS.contextText, cut) : element));
      }
      break;
    case 'header':
      if (isText(block.text)) out.text = fitText(block.text, SLACK_LIMITS.headerText, cut);
      break;
    case 'actions':
      if (Array.isArray(block.elements)) out.elements = block.elements.map((element) => (isRecord(element) ? fitElement(element, cut) : element));
      break;
    case 'input':
      if (isText(block.label)) out.label = fitText(block.label, SLACK_LIMITS.inputLabel, cut);
      if (isRecord(block.element)) out.element = fitElement(block.element, cut);
      break;
    default:
      break;
  }
  return out;
}

// Buttons, checkboxes and inputs: their texts, options and confirm dialogs.
function fitElement(element: Json, cut: string[]): Json {
  const out: Json = { ...element };
  if (element.type === 'button' && isText(element.text)) out.text = fitText(element.text, SLACK_LIMITS.buttonText, cut);
  if (isText(element.placeholder)) out.placeholder = fitText(element.placeholder, SLACK_LIMITS.placeholder, cut);
  for (const key of ['options', 'initial_options'] as const) {
    const options = element[key];
    if (Array.isArray(options)) {
      out[key] = options.map((option) => {
        if (!isRecord(option)) return option;
        const fitted: Json = { ...option };
        if (isText(option.text)) fitted.text = fitText(option.text, SLACK_LIMITS.optionText, cut);
        if (isText(option.description)) fitted.description = fitText(option.description, SLACK_LIMITS.optionDescription, cut);
        return fitted;
      });
    }
  }
  if (isRecord(element.confirm)) {
    const confirm = element.confirm;
    const fitted: Json = { ...confirm };
    if (isText(confirm.title)) fitted.title = fitText(confirm.title, SLACK_LIMITS.confirmTitle, cut);
    if (isText(confirm.text)) fitted.text = fitText(confirm.text, SLACK_LIMITS.confirmText, cut);
    if (isText(confirm.confirm)) fitted.confirm = fitText(confirm.confirm, SLACK_LIMITS.confirmButton, cut);
    if (isText(confirm.deny)) fitted.deny = fitText(confirm.deny, SLACK_LIMITS.confirmButton, cut);
    out.confirm = fitted;
  }
  return out;
}

// Slack refuses an empty text object as firmly as a long one: an empty one gets a dash. mrkdwn is sent verbatim:
// Slack then links only the explicit <…> markup the bot wrote itself, never a bare URL, #name or @name in the text.
function fitText(object: TextObject, max: number, cut: string[]): TextObject {
  const text = object.text === '' ? '–' : object.text;
  const base: TextObject = object.type === 'mrkdwn' && object.verbatim === undefined ? { ...object, verbatim: true } : { ...object };
  if (text.length <= max) return { ...base, text };
  cut.push(text);
  return { ...base, text: object.type === 'mrkdwn' ? clampMrkdwn(text, max) : clampPlain(text, max) };
}

// The top-level text is mrkdwn too: the same markup-aware cut.
function clampPlainish(text: string, max: number, cut: string[]): string {
  if (text.length <= max) return text;
  cut.push(text);
  return clampMrkdwn(text, max);
}

function textsOf(value: unknown): string[] {
  if (isText(value)) return [value.text];
  if (Array.isArray(value)) return value.flatMap(textsOf);
  if (isRecord(value)) return Object.values(value).flatMap(textsOf);
  return [];
}

function isText(value: unknown): value is TextObject {
  return isRecord(value) && (value.type === 'mrkdwn' || value.type === 'plain_text') && typeof value.text === 'string';
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
