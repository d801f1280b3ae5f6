/**
 * Validation of oa/applyevent `apply_data.contents` against a template, and conversion into the
 * `apply_data.contents[].value` shape that oa/getapprovaldetail returns (doc 91853 / 91983).
 * Every problem is a 301025 (参数错误) with a detail naming the control, as the real API does.
 */
import type { DetailContent } from './approvals';
import { WecomApiError } from './errors';
import type { SeedTemplate, TemplateControl } from './seed';

type Json = Record<string, unknown>;

export function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const NUMERIC = /^-?\d+(\.\d+)?$/;

function numericString(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'string' && NUMERIC.test(v)) return v;
  return undefined;
}

/** The empty arrays WeCom puts in every value object of a detail response. */
function baseValue(): Json {
  return {
    tips: [],
    members: [],
    departments: [],
    files: [],
    children: [],
    stat_field: [],
    sum_field: [],
    related_approval: [],
    students: [],
    classes: [],
    docs: [],
    wedrive_files: [],
  };
}

function bad(control: TemplateControl, why: string): never {
  throw new WecomApiError(301025, `${control.property.id} ${why}`);
}

/** Returns the detail value, or undefined when the input carries no value (counts as "not filled"). */
function convertValue(control: TemplateControl, value: Json): Json | undefined {
  const kind = control.property.control;
  switch (kind) {
    case 'Text':
    case 'Textarea': {
      const text = value['text'];
      if (text === undefined || text === '') return undefined;
      if (typeof text !== 'string') bad(control, 'value.text must be a string');
      if (kind === 'Text' && /[\r\n]/.test(text)) bad(control, 'Text can not contain newline');
      return { text, ...baseValue() };
    }
    case 'Money':
    case 'Number': {
      const key = kind === 'Money' ? 'new_money' : 'new_number';
      if (value[key] === undefined || value[key] === '') return undefined;
      const n = numericString(value[key]);
      if (n === undefined) bad(control, `value.${key} must be a numeric string`);
      return { ...baseValue(), [key]: n };
    }
    case 'Date': {
      const date = value['date'];
      if (date === undefined) return undefined;
      if (!isRecord(date)) bad(control, 'value.date must be an object');
      const type = date['type'];
      if (type !== 'day' && type !== 'hour') bad(control, 'value.date.type must be day or hour');
      const ts = numericString(date['s_timestamp']);
      if (ts === undefined) bad(control, 'value.date.s_timestamp must be unix seconds');
      return { ...baseValue(), date: { type, s_timestamp: ts } };
    }
    case 'Selector': {
      const sel = value['selector'];
      if (sel === undefined) return undefined;
      if (!isRecord(sel) || !Array.isArray(sel['options'])) bad(control, 'value.selector.options must be an array');
      const type = sel['type'] ?? control.config?.selector?.type;
      if (type !== 'single' && type !== 'multi') bad(control, 'value.selector.type must be single or multi');
      const known = control.config?.selector?.options ?? [];
      const options = sel['options'].map((o: unknown) => {
        const key = isRecord(o) ? o['key'] : undefined;
        const opt = known.find((k) => k.key === key);
        if (!opt) bad(control, `unknown selector option ${String(key)}`);
        return { key: opt.key, value: opt.value };
      });
      if (options.length === 0) return undefined;
      if (type === 'single' && options.length > 1) bad(control, 'single selector takes one option');
      return { ...baseValue(), selector: { type, options, exp_type: control.config?.selector?.exp_type ?? 0 } };
    }
    case 'Contact': {
      const members = value['members'];
      const departments = value['departments'];
      if (!Array.isArray(members) && !Array.isArray(departments)) return undefined;
      return {
        ...baseValue(),
        members: Array.isArray(members) ? members : [],
        departments: Array.isArray(departments) ? departments : [],
      };
    }
    case 'File': {
      const files = value['files'];
      if (!Array.isArray(files) || files.length === 0) return undefined;
      if (files.length > 6) bad(control, 'at most 6 files');
      return { ...baseValue(), files };
    }
  }
}

/** Validates `contents` against `template` and returns them in detail form, in template order. */
export function validateApplyContents(template: SeedTemplate, contents: unknown): DetailContent[] {
  if (!Array.isArray(contents)) throw new WecomApiError(301025, 'apply_data.contents must be an array');
  const byId = new Map<string, Json>();
  for (const item of contents) {
    if (!isRecord(item) || typeof item['id'] !== 'string') throw new WecomApiError(301025, 'apply_data.contents[].id missing');
    const control = template.controls.find((c) => c.property.id === item['id']);
    if (!control) throw new WecomApiError(301025, `control ${item['id']} not in template ${template.template_id}`);
    if (item['control'] !== control.property.control) {
      throw new WecomApiError(301025, `control type of ${item['id']} should be ${control.property.control}`);
    }
    if (!isRecord(item['value'])) throw new WecomApiError(301025, `${item['id']} value missing`);
    byId.set(control.property.id, item['value']);
  }
  const out: DetailContent[] = [];
  for (const control of template.controls) {
    const input = byId.get(control.property.id);
    const value = input ? convertValue(control, input) : undefined;
    if (value === undefined && control.property.require === 1) {
      throw new WecomApiError(
        301025,
        `required control ${control.property.id} (${control.property.title[0]?.text ?? ''}) is empty`,
      );
    }
    out.push({
      control: control.property.control,
      id: control.property.id,
      title: control.property.title,
      value: value ?? { ...baseValue(), ...(control.property.control.startsWith('Text') ? { text: '' } : {}) },
    });
  }
  return out;
}
