import picomatch from 'picomatch';
import type { ModelConfig } from '../config/config-file.js';

/** What an alarm is known by in `retrain.onAlarms`: its title (the display name unless the alarm sets a custom one) and its OCID. */
export interface AlarmIdentity {
  title: string;
  alarmId: string;
}

/** The models whose `retrain.onAlarms` name this alarm, in config order: each gets its own Retrain button. */
export function modelsToRetrain(models: Readonly<Record<string, ModelConfig>>, alarm: AlarmIdentity): string[] {
  return Object.entries(models)
    .filter(([, model]) =>
      (model.retrain?.onAlarms ?? []).some(
        (glob) => glob === alarm.alarmId || glob === alarm.title || picomatch.isMatch(alarm.title, glob, { nocase: true, dot: true }) || picomatch.isMatch(alarm.alarmId, glob, { dot: true }),
      ),
    )
    .map(([name]) => name);
}

/** The train target a retrain of the model starts: `retrain.train`, else the model's `train`. */
export function retrainTarget(model: ModelConfig | undefined): string | undefined {
  return model?.retrain?.train ?? model?.train;
}

/** The details of a retrain run that say where it came from; a Retry of the run keeps them. */
export const RETRAIN_LINEAGE = ['retrainOf', 'trigger', 'alarmRunKey', 'alarmTitle'] as const;
