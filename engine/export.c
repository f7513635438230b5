/* GGUF model file -> Hugging Face folder (see export.h). The tensor names come from model.c's one table
   (sl_*_specs), which the converter reads the other way; the JSON files follow transformers' own output
   (json.dumps with indent 2 and sorted keys, a final newline), so a folder converted and exported again
   gives back the same config.json. */
#include "export.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "gguf.h"
#include "json.h"
#include "model.h"
#include "quant.h"
#include "safetensors.h"
#include "tokenizer.h"

#define KEY_LABELS "surligne.labels"
#define MAX_LABELS 4096

/* The config values the GGUF does not keep: transformers' defaults for CamemBERT, as its config has them. */
#define HF_DROPOUT 0.1
#define HF_INITIALIZER_RANGE 0.02
#define HF_TRANSFORMERS_VERSION "4.44.2"

enum { F_CONFIG, F_WEIGHTS, F_SPM, F_TOKENIZER_CONFIG, F_SPECIAL_TOKENS, N_FILES };
static const char *const FILE_NAMES[N_FILES] = {"config.json", "model.safetensors", "sentencepiece.bpe.model",
                                                "tokenizer_config.json", "special_tokens_map.json"};

/* Everything the export allocates, freed in one place. */
typedef struct {
    const char *name; /* the GGUF's, for errors */
    sl_gguf *g;
    sl_config c;
    sl_spm_vocab *vocab;
    const char **labels; /* (n_labels_read) 0-terminated copies; c.n_labels is 0 when they are not written */
    int n_labels_read;
    sl_export_arch arch; /* what is written: never SL_EXPORT_AUTO */
    sl_st_tensor *tensors;
    char **tensor_names; /* (n_tensors) Hugging Face names */
    size_t n_tensors, cap_tensors;
    float **buffers; /* f32 copies of f16 and q8_0 tensors */
    int n_buffers;
    sl_json_text json[N_FILES]; /* the three JSON files */
    uint8_t *spm;
    size_t spm_size;
    sl_atomic_file *files[N_FILES];
} export_state;

/* ---- reading the GGUF ----------------------------------------------------------------------------- */

static sl_status get_dim(export_state *es, const char *key, int *out, sl_error *err) {
    uint32_t v;
    sl_status s = sl_gguf_get_u32(es->g, key, &v, err);
    if (s) return s;
    if (v == 0 || v > (1u << 24)) return sl_fail(err, SL_ERR_FORMAT, "key '%s' = %u is out of range", key, v);
    *out = (int)v;
    return SL_OK;
}

static sl_status read_config(export_state *es, sl_error *err) {
    sl_config *c = &es->c;
    const char *arch;
    size_t arch_len;
    sl_status s;
    if ((s = sl_gguf_get_str(es->g, "general.architecture", &arch, &arch_len, err))) return s;
    if (arch_len != 4 || memcmp(arch, "bert", 4) != 0)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "key 'general.architecture' is '%.*s', expected 'bert'", (int)arch_len,
                       arch);
    if ((s = get_dim(es, "bert.context_length", &c->n_pos, err)) ||
        (s = get_dim(es, "bert.embedding_length", &c->n_embd, err)) ||
        (s = get_dim(es, "bert.feed_forward_length", &c->n_ff, err)) ||
        (s = get_dim(es, "bert.block_count", &c->n_layer, err)) ||
        (s = get_dim(es, "bert.attention.head_count", &c->n_head, err)) ||
        (s = get_dim(es, "surligne.token_type_count", &c->n_type, err)) ||
        (s = sl_gguf_get_f32(es->g, "bert.attention.layer_norm_epsilon", &c->ln_eps, err)))
        return s;
    if (!(c->ln_eps > 0 && c->ln_eps < 1))
        return sl_fail(err, SL_ERR_FORMAT, "key 'bert.attention.layer_norm_epsilon' = %g is out of range", c->ln_eps);
    if (c->n_embd % c->n_head)
        return sl_fail(err, SL_ERR_FORMAT, "key 'bert.embedding_length' = %d is not a multiple of the %d heads",
                       c->n_embd, c->n_head);
    if ((s = sl_spm_vocab_from_gguf(es->g, &es->vocab, err))) return s;
    const sl_vocab *v = sl_spm_vocab_get(es->vocab);
    c->n_vocab = v->n_tokens;
    c->pad_id = v->pad_id;
    if (c->n_pos < c->pad_id + 3)
        return sl_fail(err, SL_ERR_FORMAT, "key 'bert.context_length' = %d is too small", c->n_pos);

    const sl_gguf_kv *kv = sl_gguf_find_kv(es->g, KEY_LABELS);
    if (!kv) return sl_fail(err, SL_ERR_FORMAT, "key '%s' is missing", KEY_LABELS);
    if (kv->type != SL_GGUF_ARRAY || kv->arr_type != SL_GGUF_STRING || kv->arr_n > MAX_LABELS)
        return sl_fail(err, SL_ERR_FORMAT, "key '%s' must be an array of at most %d strings", KEY_LABELS, MAX_LABELS);
    c->n_labels = es->n_labels_read = (int)kv->arr_n;
    es->labels = calloc((size_t)c->n_labels + 1, sizeof *es->labels);
    if (!es->labels) return sl_fail(err, SL_ERR_MEMORY, "no memory for the labels");
    for (int i = 0; i < c->n_labels; i++) {
        const char *p;
        size_t len;
        if ((s = sl_gguf_arr_str(es->g, KEY_LABELS, (uint64_t)i, &p, &len, err))) return s;
        if (!(es->labels[i] = strndup(p, len))) return sl_fail(err, SL_ERR_MEMORY, "no memory for the labels");
        if (len == 0 || strlen(es->labels[i]) != len)
            return sl_fail(err, SL_ERR_FORMAT, "key '%s': label %d is empty or holds a 0 byte", KEY_LABELS, i);
        for (int j = 0; j < i; j++)
            if (!strcmp(es->labels[j], es->labels[i]))
                return sl_fail(err, SL_ERR_FORMAT, "key '%s': label '%s' appears twice (ids %d and %d)", KEY_LABELS,
                               es->labels[i], j, i);
    }
    return SL_OK;
}

/* Which head to write: the option against what the file has. */
static sl_status choose_arch(export_state *es, sl_export_arch want, sl_export_report *r, sl_error *err) {
    const int has_labels = es->c.n_labels > 0,
              has_cls = sl_gguf_find_tensor(es->g, sl_head_specs[H_CLS_W].gguf) != NULL,
              has_mlm = sl_gguf_find_tensor(es->g, sl_mlm_specs[M_BIAS].gguf) != NULL;
    if (has_labels && !has_cls)
        return sl_fail(err, SL_ERR_FORMAT, "key '%s' has %d labels but tensor '%s' is missing", KEY_LABELS,
                       es->c.n_labels, sl_head_specs[H_CLS_W].gguf);
    if (!has_labels && has_cls)
        return sl_fail(err, SL_ERR_FORMAT, "tensor '%s' is there but key '%s' is empty", sl_head_specs[H_CLS_W].gguf,
                       KEY_LABELS);
    if (want == SL_EXPORT_AUTO)
        want = has_labels ? SL_EXPORT_TOKEN_CLASSIFICATION : has_mlm ? SL_EXPORT_MASKED_LM : SL_EXPORT_MODEL;
    if (want == SL_EXPORT_TOKEN_CLASSIFICATION && !has_labels)
        return sl_fail(err, SL_ERR_ARGUMENT,
                       "no token-classification head (key '%s' is empty): export it as masked-lm or model", KEY_LABELS);
    if (want == SL_EXPORT_MASKED_LM && !has_mlm)
        return sl_fail(err, SL_ERR_ARGUMENT, "no masked-language-model head (tensor '%s' is missing): export it as %s",
                       sl_mlm_specs[M_BIAS].gguf, has_labels ? "token-classification or model" : "model");
    r->architecture = want == SL_EXPORT_TOKEN_CLASSIFICATION ? "CamembertForTokenClassification"
                      : want == SL_EXPORT_MASKED_LM          ? "CamembertForMaskedLM"
                                                             : "CamembertModel";
    es->arch = want;
    r->dropped_mlm = has_mlm && want != SL_EXPORT_MASKED_LM;
    r->dropped_classifier = has_labels && want != SL_EXPORT_TOKEN_CLASSIFICATION;
    if (want != SL_EXPORT_TOKEN_CLASSIFICATION) es->c.n_labels = 0;
    return SL_OK;
}

/* ---- tensors -------------------------------------------------------------------------------------- */

static float *new_buffer(export_state *es, size_t n) {
    float **b = realloc(es->buffers, (size_t)(es->n_buffers + 1) * sizeof *b);
    if (!b) return NULL;
    es->buffers = b;
    return es->buffers[es->n_buffers++] = malloc(n * sizeof(float));
}

/* Finds a GGUF tensor, checks its shape against the keys, and adds it as f32 under its Hugging Face name
   (prefix + the table's name). */
static sl_status take_tensor(export_state *es, const sl_tensor_spec *spec, int layer, const char *prefix,
                             sl_export_report *r, sl_error *err) {
    char gguf_name[128], hf[200];
    snprintf(gguf_name, sizeof gguf_name, spec->gguf, layer);
    int n = snprintf(hf, sizeof hf, "%s", prefix);
    snprintf(hf + n, sizeof hf - (size_t)n, spec->hf, layer);
    const sl_gguf_tensor *t = sl_gguf_find_tensor(es->g, gguf_name);
    if (!t) return sl_fail(err, SL_ERR_FORMAT, "tensor '%s' is missing", gguf_name);
    const int64_t rows = sl_dim_size(&es->c, spec->rows), cols = sl_dim_size(&es->c, spec->cols);
    const int dims = spec->cols == DIM_NONE ? 1 : 2;
    const int64_t ne0 = dims == 2 ? cols : rows, ne1 = dims == 2 ? rows : 1;
    if (t->n_dims != dims || t->ne[0] != ne0 || (dims == 2 && t->ne[1] != ne1))
        return sl_fail(err, SL_ERR_SHAPE, "tensor '%s' has %d dims [%lld, %lld], expected [%lld, %lld] from the keys",
                       gguf_name, t->n_dims, (long long)t->ne[0], (long long)(t->n_dims > 1 ? t->ne[1] : 1),
                       (long long)ne0, (long long)ne1);
    const size_t count = (size_t)(ne0 * ne1);
    const void *data = t->data;
    if (t->type != SL_GGML_F32) {
        float *f = new_buffer(es, count);
        if (!f) return sl_fail(err, SL_ERR_MEMORY, "no memory for tensor '%s'", gguf_name);
        if (t->type == SL_GGML_F16) {
            sl_to_f32(SL_DT_F16, t->data, f, count);
            r->n_widened++;
        } else if (t->type == SL_GGML_Q8_0) { /* the parser checked that rows are whole blocks */
            const sl_block_q8_0 *blocks = (const sl_block_q8_0 *)(const void *)t->data;
            for (int64_t row = 0; row < ne1; row++)
                sl_dequantize_row_q8_0(blocks + row * (ne0 / SL_Q8_0_BLOCK), f + row * ne0, ne0);
            r->n_dequantised++;
        } else {
            return sl_fail(err, SL_ERR_UNSUPPORTED, "tensor '%s' has type %s (f32, f16 or q8_0 are exported)",
                           gguf_name, sl_ggml_type_name(t->type));
        }
        data = f;
    }
    if (es->n_tensors == es->cap_tensors) {
        size_t cap = es->cap_tensors ? 2 * es->cap_tensors : 64;
        sl_st_tensor *ts = realloc(es->tensors, cap * sizeof *ts);
        if (ts) es->tensors = ts;
        char **names = realloc(es->tensor_names, cap * sizeof *names);
        if (names) es->tensor_names = names;
        if (!ts || !names) return sl_fail(err, SL_ERR_MEMORY, "no memory for tensor '%s'", gguf_name);
        es->cap_tensors = cap;
    }
    char *name = strdup(hf);
    if (!name) return sl_fail(err, SL_ERR_MEMORY, "no memory for tensor '%s'", gguf_name);
    es->tensor_names[es->n_tensors] = name;
    es->tensors[es->n_tensors++] = (sl_st_tensor){.name = name, .dtype = SL_DT_F32, .n_dims = dims,
                                                  .shape = {rows, cols}, .data = data};
    return SL_OK;
}

static sl_status take_tensors(export_state *es, sl_export_report *r, sl_error *err) {
    const char *body = es->arch == SL_EXPORT_MODEL ? "" : "roberta."; /* as each class names its encoder */
    sl_status s;
    for (int i = 0; i < N_GLOBAL_TENSORS; i++)
        if ((s = take_tensor(es, &sl_global_specs[i], 0, body, r, err))) return s;
    for (int l = 0; l < es->c.n_layer; l++)
        for (int i = 0; i < N_LAYER_TENSORS; i++)
            if ((s = take_tensor(es, &sl_layer_specs[i], l, body, r, err))) return s;
    for (int i = 0; es->c.n_labels > 0 && i < N_HEAD_TENSORS; i++)
        if ((s = take_tensor(es, &sl_head_specs[i], 0, "", r, err))) return s;
    for (int i = 0; es->arch == SL_EXPORT_MASKED_LM && i < N_MLM_TENSORS; i++)
        if ((s = take_tensor(es, &sl_mlm_specs[i], 0, "", r, err))) return s;
    return SL_OK;
}

/* ---- the JSON files ------------------------------------------------------------------------------- */

/* A float32 as the shortest decimal that reads back to it (1e-05f as "1e-05", not 9.99999974737875e-06),
   in the form Python's repr gives such numbers. */
static void put_float(sl_json_text *t, float f) {
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    sl_json_printf(t, "%s%s", buf, strpbrk(buf, ".e") ? "" : ".0");
}

static void put_key(sl_json_text *t, int indent, const char *key, int first) {
    sl_json_printf(t, "%s\n%*s", first ? "" : ",", indent, "");
    sl_json_string(t, key, strlen(key));
    sl_json_printf(t, ": ");
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* config.json as transformers writes it for CamemBERT (camembert_torch.make_config has the same keys). */
static sl_status write_config(export_state *es, const sl_export_report *r, sl_error *err) {
    const sl_config *c = &es->c;
    const sl_vocab *v = sl_spm_vocab_get(es->vocab);
    sl_json_text *t = &es->json[F_CONFIG];
    const int n = c->n_labels;
    /* id2label's keys are strings ("10" sorts before "2"), label2id's are the labels: both sorted */
    char(*ids)[12] = malloc((size_t)(n ? n : 1) * sizeof *ids);
    const char **by_id = malloc((size_t)(n ? n : 1) * sizeof *by_id);
    const char **by_label = malloc((size_t)(n ? n : 1) * sizeof *by_label);
    if (!ids || !by_id || !by_label) {
        free(ids), free(by_id), free(by_label);
        return sl_fail(err, SL_ERR_MEMORY, "no memory for config.json");
    }
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "%d", i);
        by_id[i] = ids[i];
        by_label[i] = es->labels[i];
    }
    qsort(by_id, (size_t)n, sizeof *by_id, compare_strings);
    qsort(by_label, (size_t)n, sizeof *by_label, compare_strings);
    sl_json_printf(t, "{");
    put_key(t, 2, "architectures", 1);
    sl_json_printf(t, "[\n    \"%s\"\n  ]", r->architecture);
    put_key(t, 2, "attention_probs_dropout_prob", 0);
    put_float(t, HF_DROPOUT);
    put_key(t, 2, "bos_token_id", 0);
    sl_json_printf(t, "%d", v->bos_id);
    put_key(t, 2, "classifier_dropout", 0);
    sl_json_printf(t, "null");
    put_key(t, 2, "eos_token_id", 0);
    sl_json_printf(t, "%d", v->eos_id);
    put_key(t, 2, "hidden_act", 0);
    sl_json_printf(t, "\"gelu\"");
    put_key(t, 2, "hidden_dropout_prob", 0);
    put_float(t, HF_DROPOUT);
    put_key(t, 2, "hidden_size", 0);
    sl_json_printf(t, "%d", c->n_embd);
    if (n) {
        put_key(t, 2, "id2label", 0);
        sl_json_printf(t, "{");
        for (int i = 0; i < n; i++) {
            put_key(t, 4, by_id[i], i == 0);
            const char *label = es->labels[atoi(by_id[i])];
            sl_json_string(t, label, strlen(label));
        }
        sl_json_printf(t, "\n  }");
    }
    put_key(t, 2, "initializer_range", 0);
    put_float(t, HF_INITIALIZER_RANGE);
    put_key(t, 2, "intermediate_size", 0);
    sl_json_printf(t, "%d", c->n_ff);
    if (n) {
        put_key(t, 2, "label2id", 0);
        sl_json_printf(t, "{");
        for (int i = 0; i < n; i++) {
            put_key(t, 4, by_label[i], i == 0);
            int id = 0;
            while (es->labels[id] != by_label[i]) id++;
            sl_json_printf(t, "%d", id);
        }
        sl_json_printf(t, "\n  }");
    }
    put_key(t, 2, "layer_norm_eps", 0);
    put_float(t, c->ln_eps);
    put_key(t, 2, "max_position_embeddings", 0);
    sl_json_printf(t, "%d", c->n_pos);
    put_key(t, 2, "model_type", 0);
    sl_json_printf(t, "\"camembert\"");
    put_key(t, 2, "num_attention_heads", 0);
    sl_json_printf(t, "%d", c->n_head);
    put_key(t, 2, "num_hidden_layers", 0);
    sl_json_printf(t, "%d", c->n_layer);
    put_key(t, 2, "pad_token_id", 0);
    sl_json_printf(t, "%d", v->pad_id);
    put_key(t, 2, "position_embedding_type", 0);
    sl_json_printf(t, "\"absolute\"");
    put_key(t, 2, "torch_dtype", 0);
    sl_json_printf(t, "\"float32\"");
    put_key(t, 2, "transformers_version", 0);
    sl_json_printf(t, "\"%s\"", HF_TRANSFORMERS_VERSION);
    put_key(t, 2, "type_vocab_size", 0);
    sl_json_printf(t, "%d", c->n_type);
    put_key(t, 2, "use_cache", 0);
    sl_json_printf(t, "true");
    put_key(t, 2, "vocab_size", 0);
    sl_json_printf(t, "%d", c->n_vocab);
    sl_json_printf(t, "\n}\n");
    free(ids);
    free(by_id);
    free(by_label);
    return SL_OK;
}

/* An AddedToken as transformers serialises it. */
static void put_added_token(sl_json_text *t, int indent, const char *content, size_t len, int lstrip, int special) {
    sl_json_printf(t, "{");
    put_key(t, indent + 2, "content", 1);
    sl_json_string(t, content, len);
    put_key(t, indent + 2, "lstrip", 0);
    sl_json_printf(t, lstrip ? "true" : "false");
    put_key(t, indent + 2, "normalized", 0);
    sl_json_printf(t, "false");
    put_key(t, indent + 2, "rstrip", 0);
    sl_json_printf(t, "false");
    put_key(t, indent + 2, "single_word", 0);
    sl_json_printf(t, "false");
    if (special) {
        put_key(t, indent + 2, "special", 0);
        sl_json_printf(t, "true");
    }
    sl_json_printf(t, "\n%*s}", indent, "");
}

static void put_piece(sl_json_text *t, const sl_vocab *v, int id) {
    sl_json_string(t, v->pieces[id], v->piece_lens[id]);
}

/* The fairseq names CamembertTokenizer lists as additional special tokens (ids 0, 2 and the spm <unk>). */
static const char *const NOTUSED[3] = {"<s>NOTUSED", "</s>NOTUSED", "<unk>NOTUSED"};

static void put_notused(sl_json_text *t) {
    for (int i = 0; i < 3; i++) {
        sl_json_printf(t, "%s\n    ", i ? "," : "");
        sl_json_string(t, NOTUSED[i], strlen(NOTUSED[i]));
    }
    sl_json_printf(t, "\n  ]");
}

/* tokenizer_config.json and special_tokens_map.json: what transformers saves for CamembertTokenizer (the
   files of camembert-base on the Hub), with the ids and pieces of this vocabulary. */
static void write_tokenizer_files(export_state *es) {
    const sl_vocab *v = sl_spm_vocab_get(es->vocab);
    int spm_unk = 4;
    for (int i = 4; i < v->n_tokens - 1; i++)
        if (v->types[i] == SL_TOK_UNKNOWN) spm_unk = i;
    /* added_tokens_decoder, in id order: the fairseq ids, the spm <unk> (under CamembertTokenizer's name for
       it), <s>, </s>, <mask>; content NULL: the piece itself */
    struct added_token {
        int id;
        const char *content;
    } added[] = {{0, NULL}, {1, NULL}, {2, NULL}, {3, NULL}, {spm_unk, NOTUSED[2]}, {v->bos_id, NULL},
                 {v->eos_id, NULL}, {v->mask_id, NULL}};
    const int n_added = (int)(sizeof added / sizeof *added);
    for (int i = 1; i < n_added; i++)
        for (int j = i; j > 0 && added[j].id < added[j - 1].id; j--) {
            struct added_token a = added[j];
            added[j] = added[j - 1];
            added[j - 1] = a;
        }
    sl_json_text *t = &es->json[F_TOKENIZER_CONFIG];
    sl_json_printf(t, "{");
    put_key(t, 2, "added_tokens_decoder", 1);
    sl_json_printf(t, "{");
    for (int i = 0; i < n_added; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", added[i].id);
        put_key(t, 4, key, i == 0);
        const char *content = added[i].content ? added[i].content : v->pieces[added[i].id];
        size_t len = added[i].content ? strlen(content) : v->piece_lens[added[i].id];
        put_added_token(t, 4, content, len, added[i].id == v->mask_id, 1);
    }
    sl_json_printf(t, "\n  }");
    put_key(t, 2, "additional_special_tokens", 0);
    sl_json_printf(t, "[");
    put_notused(t);
    put_key(t, 2, "bos_token", 0);
    put_piece(t, v, v->bos_id);
    put_key(t, 2, "clean_up_tokenization_spaces", 0);
    sl_json_printf(t, "false");
    put_key(t, 2, "cls_token", 0);
    put_piece(t, v, v->bos_id);
    put_key(t, 2, "eos_token", 0);
    put_piece(t, v, v->eos_id);
    put_key(t, 2, "extra_special_tokens", 0);
    sl_json_printf(t, "{}");
    put_key(t, 2, "mask_token", 0);
    put_piece(t, v, v->mask_id);
    put_key(t, 2, "model_max_length", 0);
    sl_json_printf(t, "%d", sl_config_max_tokens(&es->c));
    put_key(t, 2, "pad_token", 0);
    put_piece(t, v, v->pad_id);
    put_key(t, 2, "sep_token", 0);
    put_piece(t, v, v->eos_id);
    put_key(t, 2, "sp_model_kwargs", 0);
    sl_json_printf(t, "{}");
    put_key(t, 2, "tokenizer_class", 0);
    sl_json_printf(t, "\"CamembertTokenizer\"");
    put_key(t, 2, "unk_token", 0);
    put_piece(t, v, v->unk_id);
    sl_json_printf(t, "\n}\n");

    t = &es->json[F_SPECIAL_TOKENS];
    sl_json_printf(t, "{");
    put_key(t, 2, "additional_special_tokens", 1);
    sl_json_printf(t, "[");
    put_notused(t);
    put_key(t, 2, "bos_token", 0);
    put_piece(t, v, v->bos_id);
    put_key(t, 2, "cls_token", 0);
    put_piece(t, v, v->bos_id);
    put_key(t, 2, "eos_token", 0);
    put_piece(t, v, v->eos_id);
    put_key(t, 2, "mask_token", 0);
    put_added_token(t, 2, v->pieces[v->mask_id], v->piece_lens[v->mask_id], 1, 0);
    put_key(t, 2, "pad_token", 0);
    put_piece(t, v, v->pad_id);
    put_key(t, 2, "sep_token", 0);
    put_piece(t, v, v->eos_id);
    put_key(t, 2, "unk_token", 0);
    put_piece(t, v, v->unk_id);
    sl_json_printf(t, "\n}\n");
}

/* ---- the folder ----------------------------------------------------------------------------------- */

static sl_status prepare_folder(const char *dir, int force, sl_error *err) {
    if (mkdir(dir, 0777) == 0) return SL_OK;
    if (errno != EEXIST) return sl_fail(err, SL_ERR_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
    DIR *d = opendir(dir);
    if (!d) return sl_fail(err, SL_ERR_IO, "%s: not a folder, or not readable: %s", dir, strerror(errno));
    const char *found = NULL;
    char first[256] = "";
    for (struct dirent *e; !found && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(first, sizeof first, "%s", e->d_name);
            found = first;
        }
    closedir(d);
    if (found && !force)
        return sl_fail(err, SL_ERR_ARGUMENT,
                       "%s: the folder is not empty (it has '%s'); force (--force) replaces the files of the same "
                       "names",
                       dir, found);
    return SL_OK;
}

/* All five files to temporaries first, then renamed: a failure leaves the folder as it was. */
static sl_status write_files(export_state *es, const char *dir, sl_error *err) {
    char path[4096];
    sl_status s = SL_OK;
    for (int f = 0; s == SL_OK && f < N_FILES; f++) {
        if (snprintf(path, sizeof path, "%s/%s", dir, FILE_NAMES[f]) >= (int)sizeof path)
            return sl_fail(err, SL_ERR_ARGUMENT, "%s: path too long", dir);
        if ((s = sl_atomic_open(path, &es->files[f], err))) break;
        if (f == F_WEIGHTS)
            s = sl_safetensors_write(es->tensors, es->n_tensors, es->files[f], err);
        else if (f == F_SPM)
            s = sl_atomic_write(es->files[f], es->spm, es->spm_size, err);
        else
            s = sl_atomic_write(es->files[f], es->json[f].buf, es->json[f].len, err);
        if (s && f == F_WEIGHTS) sl_fail_context(err, "%s", path);
    }
    for (int f = 0; f < N_FILES; f++) {
        if (s == SL_OK) {
            s = sl_atomic_commit(es->files[f], err);
        } else {
            sl_atomic_abort(es->files[f]);
        }
        es->files[f] = NULL;
    }
    return s;
}

static sl_status export_hf(export_state *es, const uint8_t *data, size_t size, const char *dir,
                           const sl_export_options *opt, sl_export_report *r, sl_error *err) {
    sl_status s;
    if ((s = sl_gguf_parse(data, size, es->name, &es->g, err))) return s; /* names the file */
    if ((s = read_config(es, err)) || (s = choose_arch(es, opt->arch, r, err)) || (s = take_tensors(es, r, err)))
        return sl_fail_context(err, "%s", es->name);
    r->n_tensors = (int)es->n_tensors;
    if ((s = write_config(es, r, err))) return s;
    write_tokenizer_files(es);
    for (int f = 0; f < N_FILES; f++) {
        if (f == F_WEIGHTS || f == F_SPM) continue;
        if (es->json[f].failed) return sl_fail(err, SL_ERR_MEMORY, "no memory for %s", FILE_NAMES[f]);
        /* what we wrote must read back: labels and pieces are bytes from the file, maybe not UTF-8 */
        sl_json *check = NULL;
        s = sl_json_parse(es->json[f].buf, es->json[f].len, FILE_NAMES[f], &check, err);
        sl_json_free(check);
        if (s)
            return sl_fail_context(err, "%s: key '%s' or tokenizer.ggml.tokens is not valid text", es->name,
                                   KEY_LABELS);
    }
    if ((s = sl_spm_serialize(sl_spm_vocab_get(es->vocab), &es->spm, &es->spm_size, err)))
        return sl_fail_context(err, "%s: keys tokenizer.ggml.*", es->name);
    if ((s = prepare_folder(dir, opt->force, err))) return s;
    return write_files(es, dir, err);
}

sl_status sl_export_hf(const uint8_t *gguf, size_t size, const char *name, const char *dir,
                       const sl_export_options *opt, sl_export_report *report, sl_error *err) {
    const sl_export_options defaults = {SL_EXPORT_AUTO, false};
    sl_export_report r = {0};
    export_state es = {.name = name ? name : "model.gguf"};
    sl_status s = export_hf(&es, gguf, size, dir, opt ? opt : &defaults, &r, err);
    if (report) *report = r;
    sl_gguf_free(es.g);
    sl_spm_vocab_free(es.vocab);
    for (int i = 0; es.labels && i < es.n_labels_read; i++) free((char *)es.labels[i]);
    free(es.labels);
    for (size_t i = 0; i < es.n_tensors; i++) free(es.tensor_names[i]);
    free(es.tensor_names);
    free(es.tensors);
    for (int i = 0; i < es.n_buffers; i++) free(es.buffers[i]);
    free(es.buffers);
    for (int f = 0; f < N_FILES; f++) free(es.json[f].buf);
    free(es.spm);
    return s;
}
