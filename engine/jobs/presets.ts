// `--preset paper`: every setting the Vaccine reference's shipped scripts really run with, for the
// alignment job and for the fine-tune (the attack). A preset sets defaults: an option given
// explicitly wins over it.
//
// Sources (git-disl/Vaccine, read for the values; none of its code is used):
//   script/alignment/{SFT,Vaccine,random_Vaccine}.sh  the alignment runs
//   script/{sft,vaccine,no_alignment}_finetune/{sst2,agnews|ag_news,gsm8k,alpaca}.sh  the attacks
//   train.py                                           LoRA config, max length, seeds
//   README.md                                          "sbatch Vaccine.sh 2", "sbatch sst2.sh 2 0.1 1000"
//
// What the scripts pass: --num_train_epochs (50 alignment; 20 sst2 / agnews, 50 gsm8k, 100
// alpaca), --per_device_train_batch_size 5, --gradient_accumulation_steps 1, --learning_rate
// (1e-3 alignment, 1e-5 fine-tune), --weight_decay 0.1, --warmup_ratio 0.1, --lr_scheduler_type
// cosine; HF TrainingArguments supplies the rest: AdamW (optim adamw_torch, betas 0.9/0.999,
// eps 1e-8), max_grad_norm 1.0. train.py: model_max_length 200, LoRA r 8 with dropout 0.1 on
// q,k,v,o,up,down,gate.
//
// LoRA alpha: train.py takes the "fine-tune" branch whenever --benign_dataset is non-empty, and its
// default is "data/sst2.json"; the alignment scripts do not pass it, so alignment ALSO runs that
// branch (with no --lora_folder, so nothing is merged) and gets lora_alpha = 1, not the 4 of its
// "Initialize Lora weights" branch (which no shipped script reaches). The fine-tunes get 1, or
// 0.5 when the benign dataset's path contains "gsm8k". The developers' guide says alpha 4 for
// alignment: that is align.js's own default, and `--preset paper` uses the 1 the scripts ran with.
//
// Not reproducible here and so not part of the preset: bf16/tf32 (we train in f32), and the exact
// random streams (train.py seeds 43 for the LoRA init, HF Trainer 42 for the data order; ours
// come from one --seed, default 43).
import type { TaskName } from '../tasks/tasks.ts';

export const PRESETS = ['paper'] as const;
export type PresetName = typeof PRESETS[number];

/** What both jobs share in the paper's scripts. */
const COMMON = {
  batchSize: 5, gradAccum: 1, weightDecay: 0.1, warmupRatio: 0.1, scheduler: 'cosine' as const, optimizer: 'adamw' as const,
  // 'all': every projection of the model's family; for Llama the reference's seven
  maxGradNorm: 1.0, loraR: 8, loraDropout: 0.1, loraTargets: 'all', maxLength: 200,
};

/** align.js --preset paper (script/alignment/*.sh; rho 2 is the README's "sbatch Vaccine.sh 2"). */
export const ALIGN_PAPER = { ...COMMON, epochs: 50, lr: 1e-3, loraAlpha: 1, rho: 2 };

/** finetune.js --preset paper for a task (script/*_finetune/<task>.sh; n and p from the README's "sst2.sh 2 0.1 1000"). */
export function finetunePaper(task: TaskName) {
  const epochs = { sst2: 20, agnews: 20, gsm8k: 50, alpaca: 100 }[task];
  return { ...COMMON, epochs, lr: 1e-5, loraAlpha: task === 'gsm8k' ? 0.5 : 1, n: 1000, p: 0.1 };
}

/** The preset's values as --help lines. */
export const PRESET_HELP = {
  align: 'paper: the reference\'s script/alignment/*.sh as they run: 50 epochs,\n'
    + 'lr 1e-3, batch 5, grad accum 1, AdamW, weight decay 0.1, cosine, warmup\n'
    + '0.1, max grad norm 1, LoRA r 8, alpha 1 (not 4: see below), dropout 0.1,\n'
    + 'all seven targets, max length 200, rho 2. Options given explicitly win',
  finetune: 'paper: the reference\'s script/*_finetune/<task>.sh as they run:\n'
    + 'epochs 20 (sst2, agnews), 50 (gsm8k), 100 (alpaca); lr 1e-5, batch 5,\n'
    + 'grad accum 1, AdamW, weight decay 0.1, cosine, warmup 0.1, max grad norm 1,\n'
    + 'LoRA r 8, alpha 1 (0.5 for gsm8k), dropout 0.1, all seven targets, max\n'
    + 'length 200, n 1000, p 0.1. Options given explicitly win',
};

/** The --help footnote on the alignment alpha. */
export const ALPHA_NOTE = 'LoRA alpha of the reference\'s alignment: its train.py builds the alignment LoRA in the\n'
  + 'same branch as the fine-tune\'s (--benign_dataset defaults to data/sst2.json), so the shipped\n'
  + 'alignment scripts train with alpha 1, not the 4 its other branch (and the developers\' guide)\n'
  + 'names. align.js keeps 4 as its default; --preset paper uses 1.';
