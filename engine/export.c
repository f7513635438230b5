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
        } else { /* q8_0, q5_0 or q4_0 (the parser reads no other type and checked that rows are whole blocks)
                  */
            const size_t row_bytes = sl_ggml_nbytes(t->type, ne0);
            for (int64_t row = 0; row < ne1; row++)
                sl_row_to_f32(t->type, t->data + (size_t)row * row_bytes, f + row * ne0, ne0);
            r->n_dequantised++;
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

/* A member of a JSON object: its key and its value, already written as JSON. */
typedef struct {
    const char *key;
    const char *value;
} json_member;

static int compare_members(const void *a, const void *b) {
    return strcmp(((const json_member *)a)->key, ((const json_member *)b)->key);
}

/* An object as json.dumps(indent=2) lays it out, its closing brace at column `indent`; the members sorted
   by key (sort_keys) when `sort`, else in the given order (transformers' integer keys: numeric order). */
static void put_object(sl_json_text *t, json_member *m, int n, int indent, int sort) {
    if (sort) qsort(m, (size_t)n, sizeof *m, compare_members);
    sl_json_printf(t, "{");
    for (int i = 0; i < n; i++) {
        sl_json_printf(t, "%s\n%*s", i ? "," : "", indent + 2, "");
        sl_json_string(t, m[i].key, strlen(m[i].key));
        sl_json_printf(t, ": %s", m[i].value);
    }
    sl_json_printf(t, n ? "\n%*s}" : "}", indent, "");
}

/* A float32 as the shortest decimal that reads back to it (1e-05f as "1e-05", not 9.99999974737875e-06),
   in the form Python's repr gives such numbers. */
static void format_float(char *buf, size_t cap, float f) {
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, cap, "%.*g", p, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    if (!strpbrk(buf, ".e")) snprintf(buf + strlen(buf), cap - strlen(buf), ".0");
}

/* config.json: the keys camembert_torch.make_config lists, as transformers writes them for CamemBERT, with
   id2label and label2id for token classification. */
static sl_status write_config(export_state *es, const sl_export_report *r, sl_error *err) {
    const sl_config *c = &es->c;
    const sl_vocab *v = sl_spm_vocab_get(es->vocab);
    const size_t n = (size_t)c->n_labels;
    sl_json_text *quoted = calloc(n + 1, sizeof *quoted), id2label_text = {0}, label2id_text = {0};
    char(*ids)[12] = calloc(n + 1, sizeof *ids);
    json_member *id2label = calloc(n + 1, sizeof *id2label), *label2id = calloc(n + 1, sizeof *label2id);
    int failed = !quoted || !ids || !id2label || !label2id;
    for (size_t i = 0; !failed && i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "%d", (int)i); /* n <= MAX_LABELS */
        sl_json_string(&quoted[i], es->labels[i], strlen(es->labels[i]));
        failed = quoted[i].failed;
        id2label[i] = (json_member){ids[i], quoted[i].buf};
        label2id[i] = (json_member){es->labels[i], ids[i]};
    }
    if (!failed && n) {
        put_object(&id2label_text, id2label, (int)n, 2, 0);
        put_object(&label2id_text, label2id, (int)n, 2, 1);
        failed = id2label_text.failed || label2id_text.failed;
    }
    if (!failed) {
        char architectures[96], hidden[16], ff[16], layers[16], heads[16], pos[16], types[16], vocab[16], bos[16],
            eos[16], pad[16], eps[32], dropout[32], init_range[32];
        snprintf(architectures, sizeof architectures, "[\n    \"%s\"\n  ]", r->architecture);
        snprintf(hidden, sizeof hidden, "%d", c->n_embd);
        snprintf(ff, sizeof ff, "%d", c->n_ff);
        snprintf(layers, sizeof layers, "%d", c->n_layer);
        snprintf(heads, sizeof heads, "%d", c->n_head);
        snprintf(pos, sizeof pos, "%d", c->n_pos);
        snprintf(types, sizeof types, "%d", c->n_type);
        snprintf(vocab, sizeof vocab, "%d", c->n_vocab);
        snprintf(bos, sizeof bos, "%d", v->bos_id);
        snprintf(eos, sizeof eos, "%d", v->eos_id);
        snprintf(pad, sizeof pad, "%d", v->pad_id);
        format_float(eps, sizeof eps, c->ln_eps);
        format_float(dropout, sizeof dropout, HF_DROPOUT);
        format_float(init_range, sizeof init_range, HF_INITIALIZER_RANGE);
        json_member config[] = {
            {"architectures", architectures},
            {"attention_probs_dropout_prob", dropout},
            {"bos_token_id", bos},
            {"classifier_dropout", "null"},
            {"eos_token_id", eos},
            {"hidden_act", "\"gelu\""},
            {"hidden_dropout_prob", dropout},
            {"hidden_size", hidden},
            {"initializer_range", init_range},
            {"intermediate_size", ff},
            {"layer_norm_eps", eps},
            {"max_position_embeddings", pos},
            {"model_type", "\"camembert\""},
            {"num_attention_heads", heads},
            {"num_hidden_layers", layers},
            {"pad_token_id", pad},
            {"position_embedding_type", "\"absolute\""},
            {"torch_dtype", "\"float32\""},
            {"transformers_version", "\"" HF_TRANSFORMERS_VERSION "\""},
            {"type_vocab_size", types},
            {"use_cache", "true"},
            {"vocab_size", vocab},
            {"id2label", id2label_text.buf}, /* the last two only with labels */
            {"label2id", label2id_text.buf},
        };
        put_object(&es->json[F_CONFIG], config, (int)(sizeof config / sizeof *config) - (n ? 0 : 2), 0, 1);
        sl_json_printf(&es->json[F_CONFIG], "\n");
    }
    for (size_t i = 0; quoted && i < n; i++) free(quoted[i].buf);
    free(quoted);
    free(ids);
    free(id2label);
    free(label2id);
    free(id2label_text.buf);
    free(label2id_text.buf);
    return failed ? sl_fail(err, SL_ERR_MEMORY, "no memory for config.json") : SL_OK;
}

/* An AddedToken as transformers serialises it. */
static void put_added_token(sl_json_text *t, int indent, const char *content, int lstrip, int special) {
    json_member m[] = {{"content", content},    {"lstrip", lstrip ? "true" : "false"}, {"normalized", "false"},
                       {"rstrip", "false"},     {"single_word", "false"},             {"special", "true"}};
    put_object(t, m, special ? 6 : 5, indent, 0);
}

/* The fairseq names CamembertTokenizer lists as additional special tokens: ids 0 and 2, and its name for the
   SentencePiece <unk> (id 4), which it keeps apart from its own <unk> (id 3). */
#define NOTUSED_LIST "[\n    \"<s>NOTUSED\",\n    \"</s>NOTUSED\",\n    \"<unk>NOTUSED\"\n  ]"

/* tokenizer_config.json and special_tokens_map.json: what transformers saves for CamembertTokenizer (the
   files of camembert-base on the Hub), with the ids and pieces of this vocabulary. */
static sl_status write_tokenizer_files(export_state *es, sl_error *err) {
    const sl_vocab *v = sl_spm_vocab_get(es->vocab);
    int spm_unk = 4;
    for (int i = 4; i < v->n_tokens - 1; i++)
        if (v->types[i] == SL_TOK_UNKNOWN) spm_unk = i;
    enum { BOS, EOS, UNK, PAD, MASK, N_SPECIAL };
    const int special_ids[N_SPECIAL] = {v->bos_id, v->eos_id, v->unk_id, v->pad_id, v->mask_id};
    sl_json_text piece[N_SPECIAL] = {{0}}, decoder = {0}, mask_token = {0};
    for (int i = 0; i < N_SPECIAL; i++)
        sl_json_string(&piece[i], v->pieces[special_ids[i]], v->piece_lens[special_ids[i]]);
    /* added_tokens_decoder, in id order: the fairseq ids, the spm <unk>, <s>, </s>, <mask> */
    struct added_token {
        int id;
        const char *name; /* NULL: the piece itself */
    } added[] = {{0, NULL}, {1, NULL}, {2, NULL}, {3, NULL}, {spm_unk, "<unk>NOTUSED"}, {v->bos_id, NULL},
                 {v->eos_id, NULL}, {v->mask_id, NULL}};
    enum { N_ADDED = sizeof added / sizeof *added };
    for (int i = 1; i < N_ADDED; i++)
        for (int j = i; j > 0 && added[j].id < added[j - 1].id; j--) {
            const struct added_token a = added[j];
            added[j] = added[j - 1];
            added[j - 1] = a;
        }
    char keys[N_ADDED][12];
    sl_json_text tokens[N_ADDED] = {{0}};
    json_member decoder_members[N_ADDED];
    for (int i = 0; i < N_ADDED; i++) {
        sl_json_text content = {0};
        const int id = added[i].id;
        if (added[i].name) sl_json_string(&content, added[i].name, strlen(added[i].name));
        else sl_json_string(&content, v->pieces[id], v->piece_lens[id]);
        put_added_token(&tokens[i], 4, content.failed ? "\"\"" : content.buf, id == v->mask_id, 1);
        tokens[i].failed |= content.failed;
        free(content.buf);
        snprintf(keys[i], sizeof keys[i], "%d", id);
        decoder_members[i] = (json_member){keys[i], tokens[i].buf};
    }
    put_object(&decoder, decoder_members, N_ADDED, 2, 0);
    put_added_token(&mask_token, 2, piece[MASK].buf, 1, 0);
    char max_length[16];
    snprintf(max_length, sizeof max_length, "%d", sl_config_max_tokens(&es->c));
    int failed = decoder.failed || mask_token.failed;
    for (int i = 0; i < N_SPECIAL; i++) failed |= piece[i].failed;
    for (int i = 0; i < N_ADDED; i++) failed |= tokens[i].failed;
    if (!failed) {
        json_member config[] = {
            {"added_tokens_decoder", decoder.buf},   {"additional_special_tokens", NOTUSED_LIST},
            {"bos_token", piece[BOS].buf},           {"clean_up_tokenization_spaces", "false"},
            {"cls_token", piece[BOS].buf},           {"eos_token", piece[EOS].buf},
            {"extra_special_tokens", "{}"},          {"mask_token", piece[MASK].buf},
            {"model_max_length", max_length},        {"pad_token", piece[PAD].buf},
            {"sep_token", piece[EOS].buf},           {"sp_model_kwargs", "{}"},
            {"tokenizer_class", "\"CamembertTokenizer\""}, {"unk_token", piece[UNK].buf},
        };
        json_member map[] = {
            {"additional_special_tokens", NOTUSED_LIST}, {"bos_token", piece[BOS].buf}, {"cls_token", piece[BOS].buf},
            {"eos_token", piece[EOS].buf},               {"mask_token", mask_token.buf}, {"pad_token", piece[PAD].buf},
            {"sep_token", piece[EOS].buf},               {"unk_token", piece[UNK].buf},
        };
        put_object(&es->json[F_TOKENIZER_CONFIG], config, (int)(sizeof config / sizeof *config), 0, 1);
        put_object(&es->json[F_SPECIAL_TOKENS], map, (int)(sizeof map / sizeof *map), 0, 1);
        sl_json_printf(&es->json[F_TOKENIZER_CONFIG], "\n");
        sl_json_printf(&es->json[F_SPECIAL_TOKENS], "\n");
    }
    for (int i = 0; i < N_SPECIAL; i++) free(piece[i].buf);
    for (int i = 0; i < N_ADDED; i++) free(tokens[i].buf);
    free(decoder.buf);
    free(mask_token.buf);
    return failed ? sl_fail(err, SL_ERR_MEMORY, "no memory for tokenizer_config.json") : SL_OK;
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
    if ((s = write_config(es, r, err)) || (s = write_tokenizer_files(es, err))) return s;
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
