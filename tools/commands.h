/* The subcommands of the surligne program; each takes argv after the subcommand name (argv[0] is it). */
#ifndef SL_COMMANDS_H
#define SL_COMMANDS_H

int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_ner(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_transitions(int argc, char **argv);
int cmd_average(int argc, char **argv);
int cmd_stack(int argc, char **argv);

#endif
