import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { toPromptTemplate, type PromptTemplate } from './prompt-template.js';

/** One label's last fetched template and when it was fetched (the staleness bound counts from then). */
export interface SnapshotEntry {
  label: string;
  fetchedAt: number;
  template: PromptTemplate;
}

/**
 * The last fetched template of each label, kept on disk so a replica that
 * starts while Langfuse is down can serve what it served a moment ago (SPEC §11).
 */
export interface PromptSnapshotStore {
  /** The file's entries, validated; a corrupt or foreign file yields none (with a warning). Read once. */
  load(): Promise<ReadonlyMap<string, SnapshotEntry>>;
  /** Schedules an atomic write of these entries; coalesced, never awaited on the request path. */
  save(entries: readonly SnapshotEntry[]): void;
  /** Writes a pending save now (shutdown). */
  flush(): Promise<void>;
}

const FORMAT = 'order-status-agent/prompt-snapshot';

const entrySchema = z.object({
  label: z.string().regex(/^[a-z0-9_.-]{1,64}$/),
  fetchedAt: z.iso.datetime(),
  version: z.number().int().positive(),
  labels: z.array(z.string()).max(100),
  messages: z.array(z.object({ role: z.string().min(1).max(64), content: z.string().max(200_000) })).min(1).max(100),
  config: z.unknown().optional(),
  commitMessage: z.string().nullable().optional(),
});

const snapshotSchema = z.object({
  format: z.literal(FORMAT),
  schemaVersion: z.literal(1),
  promptName: z.string(),
  langfuse: z.object({ baseUrl: z.string(), project: z.string() }),
  writtenAt: z.iso.datetime(),
  entries: z.array(entrySchema).max(100),
});

type SnapshotFile = z.infer<typeof snapshotSchema>;

export interface FilePromptSnapshotOptions {
  file: string;
  promptName: string;
  /** Which Langfuse the templates came from: a snapshot of another one is foreign. */
  langfuseBaseUrl: string;
  /** Identifies the project without writing the key itself: only a fingerprint is stored. */
  langfusePublicKey: string;
  logger: Logger;
  /** Coalescing window for writes. */
  writeDelayMs?: number;
}

/** Fingerprint of the Langfuse project (its public key), so a snapshot of another project is refused. */
export function projectFingerprint(publicKey: string): string {
  return `sha256:${createHash('sha256').update(publicKey).digest('hex').slice(0, 16)}`;
}

const normaliseBaseUrl = (url: string) => url.replace(/\/+$/, '');

/** JSON file written atomically (temporary file, fsync, rename): a crash mid-write leaves the previous snapshot. */
export class FilePromptSnapshot implements PromptSnapshotStore {
  private loaded: Promise<ReadonlyMap<string, SnapshotEntry>> | undefined;
  private pending: readonly SnapshotEntry[] | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private failing = false;
  private writes = 0;
  private readonly baseUrl: string;
  private readonly project: string;

  constructor(private readonly options: FilePromptSnapshotOptions) {
    this.baseUrl = normaliseBaseUrl(options.langfuseBaseUrl);
    this.project = projectFingerprint(options.langfusePublicKey);
  }

  /** Files written so far (coalescing shows here). */
  get writeCount(): number {
    return this.writes;
  }

  load(): Promise<ReadonlyMap<string, SnapshotEntry>> {
    this.loaded ??= this.read();
    return this.loaded;
  }

  save(entries: readonly SnapshotEntry[]): void {
    this.pending = entries;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.options.writeDelayMs ?? 200);
    this.timer.unref();
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(() => this.writePending());
    await this.writing;
  }

  private async writePending(): Promise<void> {
    const entries = this.pending;
    if (!entries) return;
    this.pending = undefined;
    const { file, logger } = this.options;
    const document: SnapshotFile = {
      format: FORMAT,
      schemaVersion: 1,
      promptName: this.options.promptName,
      langfuse: { baseUrl: this.baseUrl, project: this.project },
      writtenAt: new Date().toISOString(),
      entries: entries.map(({ label, fetchedAt, template }) => ({
        label,
        fetchedAt: new Date(fetchedAt).toISOString(),
        version: template.version,
        labels: [...template.data.labels],
        messages: template.data.prompt.map(({ role, content }) => ({ role, content })),
        config: template.data.config ?? {},
        commitMessage: template.data.commitMessage ?? null,
      })),
    };
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(path.dirname(file), { recursive: true });
      const handle = await open(tmp, 'w', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(document, null, 2)}\n`);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(tmp, file);
      this.writes += 1;
      if (this.failing) logger.info({ file }, 'prompt snapshot written again');
      this.failing = false;
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      // Once per failure streak: a read-only disk must not flood the log.
      if (!this.failing) logger.warn({ file, err: error }, 'prompt snapshot cannot be written; cold starts during a Langfuse outage will fail closed');
      this.failing = true;
    }
  }

  private async read(): Promise<ReadonlyMap<string, SnapshotEntry>> {
    const { file, logger, promptName } = this.options;
    const none = new Map<string, SnapshotEntry>();
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ file, err: error }, 'prompt snapshot unreadable: ignored');
      else logger.info({ file }, 'no prompt snapshot to fall back on');
      return none;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      logger.warn({ file }, 'prompt snapshot is corrupt (not JSON): ignored');
      return none;
    }
    const parsed = snapshotSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      logger.warn({ file, path: issue?.path.join('.'), problem: issue?.message }, 'prompt snapshot has an unknown format: ignored');
      return none;
    }
    const snapshot = parsed.data;
    const foreign = [
      snapshot.promptName !== promptName && 'prompt name',
      normaliseBaseUrl(snapshot.langfuse.baseUrl) !== this.baseUrl && 'Langfuse base URL',
      snapshot.langfuse.project !== this.project && 'Langfuse project',
    ].filter(Boolean);
    if (foreign.length > 0) {
      logger.warn({ file, differs: foreign }, 'prompt snapshot belongs to another prompt or Langfuse: ignored');
      return none;
    }
    const entries = new Map<string, SnapshotEntry>();
    for (const entry of snapshot.entries) {
      if (!entry.labels.includes(entry.label)) {
        logger.warn({ file, label: entry.label, version: entry.version }, 'prompt snapshot entry does not carry its own label: ignored');
        continue;
      }
      const template = toPromptTemplate(
        { name: promptName, version: entry.version, labels: entry.labels, prompt: entry.messages, config: entry.config, commitMessage: entry.commitMessage },
        entry.label,
      );
      entries.set(entry.label, { label: entry.label, fetchedAt: Date.parse(entry.fetchedAt), template });
    }
    return entries;
  }
}
