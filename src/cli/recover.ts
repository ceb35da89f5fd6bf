/** `chanrelay recover FILE…`: validate recordings, commit what a crash left open, truncate, finalize. */
import type { Command } from "./command.ts";
import { bool, parseFlags } from "./flags.ts";
import { EXIT, UsageError } from "./usage.ts";
import { recoverFile, type RecoveryReport } from "../recorder/recover.ts";
import { progressReporter } from "./inspect.ts";

const NAME = "recover";

const HELP = `chanrelay recover: repair recordings after a crash

Usage: chanrelay recover FILE… [--dry-run] [--force] [--json]

Each file is validated from its header on: every block's count and size, its sync marker, every
record, and seq continuity. The complete records of a block the crash left uncommitted are
committed, the file is truncated after the last good data, fsync'd, and NAME.avro.inprogress is
renamed to NAME.avro (with a -N suffix if that name is taken). An in-progress file that never got
a header is removed. chanrelay does this by itself for a channel's files when it starts.

When valid blocks follow the damage (a damaged block in the middle), truncating would lose them:
recover then refuses and exits 65, unless --force (which truncates at the damage anyway).

Options:
  --dry-run   Only report what would be done
  --force     Truncate at the damage even when valid blocks follow it
  --json      One JSON object per file on stdout

Exit status: 0 when every file is clean or repaired, 65 when one was refused or is not a
chanrelay recording, 66 when one cannot be opened.`;

const FLAGS = {
  "dry-run": { type: "boolean" },
  force: { type: "boolean" },
  json: { type: "boolean" },
} as const;

function summary(r: RecoveryReport): Record<string, unknown> {
  return {
    file: r.path,
    action: r.action,
    final_path: r.finalPath,
    dry_run: r.dryRun,
    size_before: r.sizeBefore,
    size_after: r.newSize,
    records: r.records,
    salvaged: r.salvaged,
    first_seq: r.scan?.firstSeq ?? null,
    last_seq: r.scan?.lastSeq ?? null,
    damage: r.scan?.damage ?? null,
    valid_after_damage: r.scan?.validAfter ?? null,
    message: r.message,
  };
}

/** The `recover` command. */
export const command: Command = {
  name: NAME,
  summary: "Validate and repair recordings (.avro.inprogress → .avro)",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const f = parseFlags(NAME, args, FLAGS, true);
    if (f.positionals.length === 0) throw new UsageError(NAME, "Name at least one FILE");
    const json = bool(f, "json");
    let code: number = EXIT.OK;
    for (const path of f.positionals) {
      let report: RecoveryReport;
      const progress = progressReporter(path);
      try {
        report = await recoverFile(path, {
          dryRun: bool(f, "dry-run"),
          force: bool(f, "force"),
          ...(progress ? { onProgress: progress } : {}),
        });
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        console.error(`chanrelay recover: Cannot recover "${path}": ${why}`);
        code = Math.max(code, EXIT.NOINPUT);
        continue;
      }
      if (json) console.log(JSON.stringify(summary(report)));
      else console.log(`${path}: ${report.action}: ${report.message}`);
      if (report.action === "refused" || report.action === "invalid") {
        if (!json) {
          console.error(
            `chanrelay recover: "${path}" was not ${
              report.action === "refused" ? "truncated" : "changed"
            }: ${report.message}`,
          );
        }
        code = code === EXIT.OK ? EXIT.DATAERR : code;
      }
    }
    return code;
  },
};
