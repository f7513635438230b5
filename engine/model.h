/* The CamemBERT encoder with a token-classification head: config, weights, forward pass.
   Internal interface (the public one is surligne.h).

   Tensor names follow llama.cpp's BERT convention; the one table in model.c maps each to its Hugging Face
   name and its shape from the config, and serves both the converter and the loader. */
#ifndef SL_MODEL_H
#define SL_MODEL_H

#include "surligne.h"
#include "gguf.h"
#include "tokenizer.h"
#include "ner.h"
#include "kernels.h"
#include "quant.h"

typedef struct {
    int n_vocab;  /* 32005 for CamemBERT */
    int n_embd;   /* hidden size C */
    int n_layer;
    int n_head;
    int n_ff;     /* intermediate size */
    int n_pos;    /* position table rows (514: positions start after the pad id) */
    int n_type;   /* token-type table rows (1) */
    int n_labels; /* 0: no token-classification head (a pre-trained encoder) */
    int has_mlm;  /* the masked-language-model head's tensors are present */
    int pad_id;   /* 1: also the position offset */
    float ln_eps;
} sl_config;

/* Largest number of tokens (specials included) one window can hold: n_pos - pad_id - 1. */
int sl_config_max_tokens(const sl_config *c);

/* Tensors, in this order, for the globals, each layer and the head. */
enum { T_TOK_EMBD, T_POS_EMBD, T_TYPE_EMBD, T_EMBD_NORM_W, T_EMBD_NORM_B, N_GLOBAL_TENSORS };
enum {
    L_Q_W, L_Q_B, L_K_W, L_K_B, L_V_W, L_V_B, L_O_W, L_O_B, L_LN1_W, L_LN1_B,
    L_UP_W, L_UP_B, L_DOWN_W, L_DOWN_B, L_LN2_W, L_LN2_B, N_LAYER_TENSORS
};
enum { H_CLS_W, H_CLS_B, N_HEAD_TENSORS };
/* The masked-language-model head (RobertaLMHead): dense, GELU, LayerNorm, then the decoder, whose weight is
   the word embeddings (tied) and whose bias is M_BIAS. A pre-trained encoder has it and may have no
   classifier (n_labels 0); a fine-tuned model has the classifier and may keep it. */
enum { M_DENSE_W, M_DENSE_B, M_NORM_W, M_NORM_B, M_BIAS, N_MLM_TENSORS };

typedef enum { DIM_NONE, DIM_VOCAB, DIM_EMBD, DIM_POS, DIM_TYPE, DIM_FF, DIM_LABELS } sl_dim;
typedef struct {
    const char *gguf; /* printf pattern with the layer number */
    const char *hf;   /* name under the encoder prefix ("roberta."), or for the head at top level */
    sl_dim rows, cols;/* PyTorch shape (rows, cols), or (rows) when cols is DIM_NONE */
} sl_tensor_spec;

extern const sl_tensor_spec sl_global_specs[N_GLOBAL_TENSORS];
extern const sl_tensor_spec sl_layer_specs[N_LAYER_TENSORS];
extern const sl_tensor_spec sl_head_specs[N_HEAD_TENSORS];
extern const sl_tensor_spec sl_mlm_specs[N_MLM_TENSORS];
int64_t sl_dim_size(const sl_config *c, sl_dim d);

/* Pointers to every tensor as f32: into the GGUF file (inference) or into the trainer's parameters.
   A loaded model may have its Linear weights in q8_0: they are packed for the kernels when it loads
   (simd.h), the q8 pointer of such a tensor is set and its f32 pointer is NULL; the word embeddings in
   q8_0 stay in place in the file. The trainer's weights are all f32 (q8 pointers NULL). */
typedef struct {
    const float *global[N_GLOBAL_TENSORS];
    const float **layers; /* (n_layer, N_LAYER_TENSORS) */
    const float *head[N_HEAD_TENSORS]; /* NULL when n_labels is 0 */
    const float *mlm[N_MLM_TENSORS];   /* NULL without the MLM head */
    sl_q8_packed **q8_layers; /* (n_layer, N_LAYER_TENSORS) packed for the kernels, or NULL when none is q8_0 */
    sl_q8_packed *q8_head[N_HEAD_TENSORS];
    const void
        *tok_embd_rows;     /* the word embeddings when quantised (rows dequantised when gathered), or NULL */
    uint32_t tok_embd_type; /* their ggml type: q8_0, q5_0 or q4_0 (gguf.h) */
} sl_weights;

/* Activations of one layer. In inference the layers share one set of buffers (only the forward pass needs
   them, see model.c); in training each layer has its own so that the backward pass can read them. */
typedef struct {
    float *q, *k, *v;                 /* (N,C) */
    float *probs;                     /* (B,NH,T,T) attention softmax, or NULL (inference) */
    float *ctx;                       /* (N,C) attention output, before the output projection */
    float *res1;                      /* (N,C) layer input + projected attention, before LayerNorm */
    float *ln1, *ln1_mean, *ln1_rstd; /* (N,C), (N), (N); mean/rstd NULL in inference */
    float *ff_pre, *ff_act;           /* (N,F) before and after GELU (one buffer in inference) */
    float *res2;                      /* (N,C) ln1 + feed-forward output, before LayerNorm */
    float *out, *out_mean, *out_rstd; /* (N,C) layer output, (N), (N) */
} sl_layer_acts;

typedef struct {
    uint8_t *mask;                    /* (N) 1 for a real token */
    int32_t *pos;                     /* (N) position ids */
    float *emb, *emb_mean, *emb_rstd; /* (N,C) word + position + type, before LayerNorm; (N), (N) */
    float *x0;                        /* (N,C) embeddings output (may equal emb in inference) */
    sl_layer_acts *layers;            /* (n_layer) */
    float *cls_in;                    /* (N,C) classifier input after dropout, or NULL: the last layer's out */
    float *scratch;                   /* (n_threads, T) */
    void *q8_scratch;                 /* matmul_q8_0_scratch_size(N, max(C,F)) bytes, or NULL: no q8_0 weight */
} sl_acts;

/* Dropout probabilities of a training step; seed changes every step. NULL everywhere means none. */
typedef struct {
    float hidden, attention, classifier;
    uint64_t seed;
    uint64_t row0; /* the first row's index in the global batch (data-parallel training), else 0 */
} sl_dropout_rates;

/* The dropout of one site (embeddings, a layer's attention probabilities, ...) of a step; per_row: the
   site's elements per batch row (T*C for hidden states, NH*T*T for attention), which places the mask at
   row r->row0 of the global batch. */
sl_dropout sl_dropout_site(const sl_dropout_rates *r, int site, float p, uint64_t per_row);
enum { SITE_EMBD = 0, SITE_CLS = 1, SITE_LAYER = 2 }; /* layer l: SITE_LAYER + 3l + {0 attn, 1 attn out, 2 ffn} */

/* The encoder and head: logits (B*T, n_labels) for ids (B,T). ids must be valid (< n_vocab). logits NULL:
   the encoder only (its output is a->layers[n_layer - 1].out). */
void sl_encoder_forward(const sl_config *c, const sl_weights *w, const int32_t *ids, int B, int T, sl_acts *a,
                        float *logits, const sl_dropout_rates *drop, sl_pool *pool);

/* The label transitions of a model's training data and their weight in Viterbi decoding (sl_decoder), under
   surligne.label_transitions ((n_labels + 1) x n_labels f32 log-probabilities) and surligne.transition_weight
   (f32); sl_gguf_is_transition_key tells those two keys (to leave them out of a copy). */
void sl_gguf_add_transitions(sl_gguf_writer *w, const float *transitions, int n_labels, float weight);
int sl_gguf_is_transition_key(const char *name, size_t len);
/* The decoder of sl_recognize for `mode`: the model's transitions and weight, if its file has them. */
sl_decoder sl_model_decoder(const sl_model *m, sl_decoding mode);

/* Writes the model's hyper-parameters, labels and tokenizer keys (not the tensors) into a GGUF writer. */
void sl_gguf_add_config(sl_gguf_writer *w, const sl_config *c, const char *const *labels, const sl_vocab *v,
                        const char *source_architecture);


/* The tokenizer held by a loaded model. */
const sl_tokenizer *sl_model_tokenizer(const sl_model *m);
const sl_labelset *sl_model_labelset(const sl_model *m);
const sl_config *sl_model_config(const sl_model *m);
const sl_gguf *sl_model_gguf(const sl_model *m);

const sl_weights *sl_model_weights(const sl_model *m);
/* SL_OK when every weight is available as f32 (f32 or f16 in the file); otherwise SL_ERR_UNSUPPORTED
   naming the first quantised tensor. The trainer needs this. */
sl_status sl_model_require_f32(const sl_model *m, sl_error *err);
sl_pool *sl_model_pool(sl_model *m);

/* Sets the number of threads of the model's pool (1 = no thread). */
sl_status sl_model_set_threads(sl_model *m, int n_threads, sl_error *err);

/* logits (B,T,n_labels) for ids (B,T); padding positions hold pad_id. Allocates nothing once the arena
   has grown to B*T tokens. */
sl_status sl_model_forward(sl_model *m, const int32_t *ids, int B, int T, float *logits, sl_error *err);
/* The masked-language-model head's logits (B,T,n_vocab) at every position (the model needs its MLM head and
   f32/f16 word embeddings): what RobertaForMaskedLM returns, for checks and for filling masks. */
sl_status sl_model_mlm_forward(sl_model *m, const int32_t *ids, int B, int T, float *logits, sl_error *err);

#endif
