import { MonitoringClient } from 'oci-monitoring';
import { z } from 'zod';
import type { Env } from '../../config/env.js';
import type { AlarmDefinition, MetricsRequest, MetricStream, OciMonitoring } from '../../context.js';
import type { Logger } from '../../log.js';
import { CLIENT_CONFIGURATION, OciService, type OciServiceOptions } from './oci-service.js';

const optionalText = z
  .string()
  .nullish()
  .transform((value) => value || undefined);

const alarmSchema = z
  .object({
    id: z.string().min(1),
    displayName: z.string(),
    metricCompartmentId: z.string().min(1),
    metricCompartmentIdInSubtree: z.boolean().nullish(),
    namespace: z.string().min(1),
    query: z.string().min(1),
    resolution: optionalText,
    resourceGroup: optionalText,
  })
  .transform((alarm): AlarmDefinition => ({ ...alarm, metricCompartmentIdInSubtree: alarm.metricCompartmentIdInSubtree ?? false }));

/** Timestamps stay ISO strings at runtime although the SDK types them as Date. */
const timestamp = z.union([z.date(), z.string()]).transform((value, ctx) => {
  const ms = new Date(value).getTime();
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: 'is not a timestamp' });
    return z.NEVER;
  }
  return ms;
});

const metricDataSchema = z.array(
  z
    .object({
      name: z.string(),
      dimensions: z.record(z.string(), z.string()).nullish(),
      aggregatedDatapoints: z.array(z.object({ timestamp, value: z.number() })).nullish(),
    })
    .transform((item): MetricStream => ({ name: item.name, dimensions: item.dimensions ?? {}, points: (item.aggregatedDatapoints ?? []).map((point) => ({ at: point.timestamp, value: point.value })) })),
);

/** OCI Monitoring (`/20180401`): the alarm's definition and its metric over a window, for alarm charts. */
export class MonitoringGateway implements OciMonitoring {
  private readonly service: OciService<MonitoringClient>;

  constructor(env: Env, logger: Logger, options: OciServiceOptions = {}) {
    this.service = new OciService(env, logger, { name: 'Monitoring', endpoint: env.OCI_MONITORING_ENDPOINT, create: (httpClient) => new MonitoringClient({ httpClient }, CLIENT_CONFIGURATION) }, options);
  }

  getAlarm(alarmId: string): Promise<AlarmDefinition> {
    return this.service.call('getAlarm', alarmSchema, async (client) => (await client.getAlarm({ alarmId })).alarm);
  }

  summarizeMetricsData(request: MetricsRequest): Promise<MetricStream[]> {
    return this.service.call('summarizeMetricsData', metricDataSchema, async (client) =>
      (
        await client.summarizeMetricsData({
          compartmentId: request.compartmentId,
          compartmentIdInSubtree: request.compartmentIdInSubtree,
          summarizeMetricsDataDetails: {
            namespace: request.namespace,
            query: request.query,
            startTime: new Date(request.startTime),
            endTime: new Date(request.endTime),
            ...(request.resolution ? { resolution: request.resolution } : {}),
            ...(request.resourceGroup ? { resourceGroup: request.resourceGroup } : {}),
          },
        })
      ).items,
    );
  }

  close(): Promise<void> {
    return this.service.close();
  }
}
