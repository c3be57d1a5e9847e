/* lm_train.h -- char_lm train: truncated BPTT over a text, checkpoints that resume
 * byte for byte, the loss curve. */
#ifndef LM_TRAIN_H
#define LM_TRAIN_H

#include "lm_cli.h"

/* Runs `char_lm train` with the parsed options; the process's exit status. */
int lm_train(lm_options *o);

#endif
