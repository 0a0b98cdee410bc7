import type { LangfuseClient } from '@langfuse/client';
import type { ChatMessage, PromptVersionData } from '../prompt-template.js';
import { langfuseCall, PromptAdminError, publicUrl, type RequestOptions } from './langfuse-call.js';

export { PromptAdminError } from './langfuse-call.js';

type RemotePrompt = Awaited<ReturnType<LangfuseClient['api']['prompts']['get']>>;
type CreatePromptRequest = Parameters<LangfuseClient['api']['prompts']['create']>[0];

/** Admin calls may cross the internet to Langfuse Cloud: looser than the service's per-fetch timeout, still bounded. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const LIST_PAGE_LIMIT = 50;
/** Guards against a server whose pagination never ends. */
const MAX_LIST_PAGES = 1_000;
/** Same rule the Langfuse API applies to labels. */
const LABEL_PATTERN = /^[a-z0-9_\-.]+$/;
const LATEST = 'latest';

export interface PromptAdminOptions {
  client: LangfuseClient;
  /** The managed prompt, e.g. `order-status-answer`. */
  name: string;
  /** Only for error messages (the client keeps its own copy private). */
  baseUrl: string;
  requestTimeoutMs?: number;
  logger?: { debug(obj: object, msg: string): void };
}

export type ShowSelector = { label: string } | { version: number };

/**
 * Prompt lifecycle operations against the Langfuse public API (v2 prompts).
 * Every method returns the lines to print on stdout and throws PromptAdminError on failure.
 * Uses `client.api` rather than `client.prompt` so each request gets a timeout and an explicit
 * retry count: the SDK default (60 s, 2 retries) would also retry a POST and could create a
 * duplicate version.
 */
export class PromptAdmin {
  private readonly client: LangfuseClient;
  private readonly name: string;
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly logger: PromptAdminOptions['logger'];

  constructor(options: PromptAdminOptions) {
    this.client = options.client;
    this.name = options.name;
    this.baseUrl = publicUrl(options.baseUrl);
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.logger = options.logger;
  }

  /** Makes Langfuse hold the file's versions: creates missing ones with their labels, adds labels no version holds; never overwrites or moves a deployed label. */
  async seed(fileVersions: readonly PromptVersionData[]): Promise<string[]> {
    this.checkFile(fileVersions);
    const remoteNumbers = await this.versionNumbers();
    const highestRemote = remoteNumbers.at(-1) ?? 0;
    const fileNumbers = new Set(fileVersions.map((v) => v.version));

    // Langfuse numbers versions itself (max + 1): versions the file lacks, or gaps below the
    // remote maximum, can never be made to match by creating more. Refuse before writing.
    const unknown = remoteNumbers.filter((n) => !fileNumbers.has(n));
    if (unknown.length > 0) {
      throw new PromptAdminError(
        `refusing to seed: Langfuse has version(s) ${unknown.join(', ')} of '${this.name}' that the prompt file does not have. ` +
          'Add them to the file (or delete them in Langfuse) first; nothing was changed.',
      );
    }
    const gaps = fileVersions.filter((v) => v.version < highestRemote && !remoteNumbers.includes(v.version));
    if (gaps.length > 0) {
      throw new PromptAdminError(
        `refusing to seed: version(s) ${gaps.map((v) => v.version).join(', ')} of '${this.name}' are missing in Langfuse below version ${highestRemote} and cannot be recreated with the same number; nothing was changed.`,
      );
    }

    const remote = new Map<number, RemotePrompt>();
    for (const prompt of await this.getVersions(remoteNumbers)) remote.set(prompt.version, prompt);
    const diverged = fileVersions.flatMap((v) => {
      const r = remote.get(v.version);
      const why = r ? contentDifference(v, r) : undefined;
      return why ? [`version ${v.version} (${why})`] : [];
    });
    if (diverged.length > 0) {
      throw new PromptAdminError(
        `refusing to seed: Langfuse content of '${this.name}' diverges from the prompt file: ${diverged.join('; ')}. ` +
          'Langfuse versions are immutable; reconcile the file with Langfuse instead. Nothing was changed.',
      );
    }

    const lines: string[] = [];
    let created = 0;
    let relabelled = 0;
    for (const file of fileVersions) {
      const existing = remote.get(file.version);
      if (!existing) {
        const made = await this.create(file);
        if (made.version !== file.version) {
          throw new PromptAdminError(
            `Langfuse created version ${made.version} where the file expects ${file.version} (was the prompt changed concurrently?); run seed again to check.`,
          );
        }
        created++;
        lines.push(`created version ${file.version} ${bracket(file.labels)}`);
        continue;
      }
      // Never move a label another version holds: that is a deployment decision (promote/rollback),
      // and re-running seed after a promotion must not undo it. Only labels nobody holds are added.
      const heldElsewhere = (l: string) => [...remote.values()].find((r) => r.version !== file.version && r.labels.includes(l));
      const unheld = file.labels.filter((l) => !existing.labels.includes(l) && !heldElsewhere(l));
      const kept = file.labels.filter((l) => !existing.labels.includes(l) && heldElsewhere(l));
      const keptNote = kept.map((l) => `; ${l} stays on version ${heldElsewhere(l)?.version} (use promote to move it)`).join('');
      if (unheld.length === 0) {
        lines.push(`labels ok on version ${file.version} ${bracket(file.labels.filter((l) => existing.labels.includes(l)))}${keptNote}`);
        continue;
      }
      await this.addLabels(file.version, unheld);
      relabelled++;
      lines.push(`labels added to version ${file.version} ${bracket(unheld)}${keptNote}`);
    }
    lines.push(created + relabelled === 0 ? 'unchanged' : `updated: ${created} created, ${relabelled} relabelled`);
    return lines;
  }

  /** `v<N>  <labels comma-joined>  <commitMessage>`, ascending. */
  async list(): Promise<string[]> {
    const numbers = await this.versionNumbers();
    if (numbers.length === 0) {
      throw new PromptAdminError(
        `not found: Langfuse at ${this.baseUrl} has no versions of '${this.name}' (run \`npm run prompts -- seed\`, or check the keys' project).`,
      );
    }
    const prompts = await this.getVersions(numbers);
    // Each line names its prompt, so output read on its own (or grepped) says what it lists.
    return prompts.map((p) => `${this.name} v${p.version}  ${p.labels.join(',') || '-'}  ${p.commitMessage ?? ''}`.trimEnd());
  }

  /** One version by label or number: header lines, then each message after a `--- <role>` line. */
  async show(selector: ShowSelector): Promise<string[]> {
    const prompt = await this.get(selector);
    const lines = [
      `name: ${prompt.name}`,
      `version: ${prompt.version}`,
      `labels: ${prompt.labels.join(', ') || '-'}`,
      `commit: ${prompt.commitMessage ?? '-'}`,
      `config: ${canonicalJson(prompt.config ?? {})}`,
    ];
    if (prompt.type !== 'chat') return [...lines, `type: ${prompt.type}`, '--- text', String(prompt.prompt)];
    for (const item of prompt.prompt) {
      if ('role' in item) lines.push(`--- ${item.role}`, item.content);
      else lines.push(`--- placeholder ${item.name}`);
    }
    return lines;
  }

  /** Moves `label` to `version` (PATCH newLabels); a no-op when it is already there. */
  async promote(version: number, label: string): Promise<string[]> {
    checkLabel(label);
    const current = await this.findLabel(label);
    if (current?.version === version) return [`${label} already on version ${version}; unchanged`];
    await this.addLabels(version, [label]);
    return [current ? `moved ${label} from version ${current.version} to version ${version}` : `added ${label} to version ${version}`];
  }

  /** Moves `label` to the highest version below the one holding it. */
  async rollback(label: string): Promise<string[]> {
    const { from, to } = await this.rollbackPlan(label);
    await this.addLabels(to, [label]);
    return [`rolled back ${label} from version ${from} to version ${to}`];
  }

  // --- building blocks for the release gate (src/release/) -------------------------------------

  /** One stored version (404 → PromptAdminError with status 404). */
  version(version: number): Promise<RemotePrompt> {
    return this.get({ version });
  }

  /** The version holding `label`, or undefined when no version holds it. */
  labelHolder(label: string): Promise<RemotePrompt | undefined> {
    checkLabel(label);
    return this.findLabel(label);
  }

  /** Where a rollback of `label` goes: the highest version below the one holding it. */
  async rollbackPlan(label: string): Promise<{ from: number; to: number }> {
    checkLabel(label);
    const current = await this.get({ label });
    const lower = (await this.versionNumbers()).filter((n) => n < current.version);
    const target = lower.at(-1);
    if (target === undefined) {
      throw new PromptAdminError(`cannot roll back ${label}: it is on version ${current.version}, and '${this.name}' has no lower version.`);
    }
    return { from: current.version, to: target };
  }

  /** Puts `label` on `version`, moving it off the version that held it. */
  async moveLabel(version: number, label: string): Promise<void> {
    checkLabel(label);
    await this.addLabels(version, [label]);
  }

  /** The labels each of these versions holds now (a version Langfuse does not have maps to none). */
  async labelsOf(versions: readonly number[]): Promise<Map<number, string[]>> {
    const known = new Set(await this.versionNumbers());
    const prompts = await this.getVersions(versions.filter((v) => known.has(v)));
    return new Map(prompts.map((p) => [p.version, [...p.labels]]));
  }

  /** The version holding `label` now, or undefined. */
  async versionOf(label: string): Promise<number | undefined> {
    checkLabel(label);
    return (await this.findLabel(label))?.version;
  }

  // --- file checks ---------------------------------------------------------------------------

  private checkFile(versions: readonly PromptVersionData[]): void {
    const problems: string[] = [];
    versions.forEach((v, i) => {
      if (v.name !== this.name) problems.push(`version ${v.version} is for prompt '${v.name}', not '${this.name}'`);
      // Langfuse assigns numbers 1, 2, …: the file can only describe that sequence.
      if (v.version !== i + 1) problems.push(`versions must be numbered 1, 2, … in order (found ${v.version} at position ${i + 1})`);
      for (const label of v.labels) {
        if (label === LATEST) problems.push(`version ${v.version}: '${LATEST}' is assigned by Langfuse and cannot be seeded`);
        else if (!LABEL_PATTERN.test(label)) problems.push(`version ${v.version}: invalid label '${label}'`);
      }
    });
    const seen = new Map<string, number>();
    for (const v of versions) {
      for (const label of v.labels) {
        const first = seen.get(label);
        if (first !== undefined) problems.push(`label '${label}' is on versions ${first} and ${v.version}; a label marks one version`);
        seen.set(label, v.version);
      }
    }
    if (versions.length === 0) problems.push('it has no versions');
    if (problems.length > 0) throw new PromptAdminError(`the prompt file cannot be seeded: ${problems.join('; ')}`);
  }

  // --- Langfuse calls --------------------------------------------------------------------------

  /** All version numbers of the prompt, ascending, across every page of the list endpoint. */
  private async versionNumbers(): Promise<number[]> {
    const found = new Set<number>();
    for (let page = 1; page <= MAX_LIST_PAGES; page++) {
      const res = await this.call(`list prompts (page ${page})`, 1, (o) =>
        this.client.api.prompts.list({ name: this.name, page, limit: LIST_PAGE_LIMIT }, o),
      );
      // `name` is a filter on the server; check anyway so a looser match cannot leak in.
      for (const meta of res.data) if (meta.name === this.name) for (const v of meta.versions) found.add(v);
      if (res.data.length === 0 || page >= res.meta.totalPages) break;
    }
    return [...found].sort((a, b) => a - b);
  }

  private async get(selector: ShowSelector): Promise<RemotePrompt> {
    const what = 'label' in selector ? `label '${selector.label}'` : `version ${selector.version}`;
    // resolve=false: compare and show what is stored, not a rendering with prompt dependencies inlined.
    return this.call(`get ${what}`, 1, (o) => this.client.api.prompts.get(this.name, { ...selector, resolve: false }, o));
  }

  /** The version holding `label`, or undefined when no version holds it. */
  private async findLabel(label: string): Promise<RemotePrompt | undefined> {
    try {
      return await this.get({ label });
    } catch (error) {
      if (error instanceof PromptAdminError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Full versions, a few requests at a time (list only returns numbers). */
  private async getVersions(numbers: readonly number[]): Promise<RemotePrompt[]> {
    const out: RemotePrompt[] = [];
    for (let i = 0; i < numbers.length; i += 5) {
      const batch = numbers.slice(i, i + 5).map((version) => this.get({ version }));
      out.push(...(await Promise.all(batch)));
    }
    return out;
  }

  private create(file: PromptVersionData): Promise<RemotePrompt> {
    const body: CreatePromptRequest = {
      name: this.name,
      type: 'chat',
      prompt: file.prompt.map((m) => ({ role: m.role, content: m.content, type: 'chatmessage' as const })),
      config: file.config ?? {},
      labels: [...file.labels],
      ...(file.commitMessage ? { commitMessage: file.commitMessage } : {}),
    };
    // No retry: a POST that reached the server but timed out would otherwise create a second version.
    return this.call(`create version ${file.version}`, 0, (o) => this.client.api.prompts.create(body, o));
  }

  private addLabels(version: number, labels: string[]): Promise<RemotePrompt> {
    if (labels.includes(LATEST)) throw new PromptAdminError(`'${LATEST}' is assigned by Langfuse and cannot be set`);
    // PATCH newLabels only adds, moving each label off the version that held it: safe to retry.
    return this.call(`label version ${version}`, 1, (o) => this.client.api.promptVersion.update(this.name, version, { newLabels: labels }, o));
  }

  /** One bounded request (retries included) with its failure turned into an operator message. */
  private call<T>(what: string, maxRetries: number, request: (options: RequestOptions) => Promise<T>): Promise<T> {
    return langfuseCall({ baseUrl: this.baseUrl, timeoutMs: this.timeoutMs, logger: this.logger, subject: this.name }, what, maxRetries, request);
  }
}

// --- helpers ---------------------------------------------------------------------------------

function checkLabel(label: string): void {
  if (label === LATEST) throw new PromptAdminError(`'${LATEST}' is assigned by Langfuse to the newest version and cannot be set`);
  if (!LABEL_PATTERN.test(label)) throw new PromptAdminError(`invalid label '${label}': use lowercase letters, digits, '_', '-', '.'`);
}

function bracket(labels: readonly string[]): string {
  return `[${labels.join(', ')}]`;
}

/** Why a remote version's content (messages + config) differs from the file's, or undefined when equal. */
export function contentDifference(file: PromptVersionData, remote: RemotePrompt): string | undefined {
  if (remote.type !== 'chat') return `it is a ${remote.type} prompt`;
  const remoteMessages: (ChatMessage | undefined)[] = remote.prompt.map((item) => ('role' in item ? { role: item.role, content: item.content } : undefined));
  if (remoteMessages.some((m) => m === undefined)) return 'it contains placeholders';
  const fileMessages = file.prompt.map((m) => ({ role: m.role, content: m.content }));
  if (canonicalJson(remoteMessages) !== canonicalJson(fileMessages)) return 'messages differ';
  if (canonicalJson(remote.config ?? {}) !== canonicalJson(file.config ?? {})) return 'config differs';
  return undefined;
}

/** JSON with object keys sorted, so key order never counts as a difference. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
