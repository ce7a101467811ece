import { z } from 'zod';

/** A modal's view_submission as the handlers read it: who submitted, the private_metadata, the inputs' values by block and action. */
export const viewSubmissionSchema = z.object({
  user: z.object({ id: z.string().regex(/^[UW][A-Z0-9]+$/) }),
  view: z.object({
    private_metadata: z.string(),
    state: z.object({ values: z.record(z.string(), z.record(z.string(), z.object({ value: z.string().nullish() }).loose())) }),
  }),
});

/** A button value or a modal's private_metadata, parsed; anything that is not JSON reads as undefined (the schema then refuses it). */
export function safeJson(text: string | null | undefined): unknown {
  if (text === undefined || text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A view_submission with its private_metadata parsed by `meta`; undefined for a malformed one (the caller just acks). */
export function readSubmission<T>(body: unknown, meta: z.ZodType<T>): { user: string; meta: T; values: z.infer<typeof viewSubmissionSchema>['view']['state']['values'] } | undefined {
  const parsed = viewSubmissionSchema.safeParse(body);
  if (!parsed.success) return undefined;
  const metadata = meta.safeParse(safeJson(parsed.data.view.private_metadata));
  return metadata.success ? { user: parsed.data.user.id, meta: metadata.data, values: parsed.data.view.state.values } : undefined;
}
