/* The C API tests' client: loads a SavedModel the way TF Serving does (TF_LoadSessionFromSavedModel,
 * the session-based SavedModelBundle loader of TensorFlow's C API), feeds tensors read from files,
 * runs the session once and writes the fetched tensors to files.
 *
 * usage: saved_model_client EXPORT_DIR TAG [feed TENSOR DTYPE DIMS FILE]... [fetch TENSOR FILE]...
 *   TENSOR: a graph tensor name "op:index" (a signature's TensorInfo name in the MetaGraphDef);
 *   DTYPE: the TF_DataType number of a fixed-size type (1 float32, 4 uint8, ...);
 *   DIMS: the sizes, comma-separated ("4,512"), or "scalar" for a 0-d tensor;
 *   FILE: the values, row-major in native byte order (a feed's file holds exactly that many bytes).
 * For each fetch, in command-line order, prints "DTYPE D0 D1 ..." (its TF_DataType number and sizes)
 * on a line of stdout and writes its values to FILE.
 * Exit status 0 on success, 2 for a malformed command line, 1 for any other error (a message on stderr).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorflow/c/c_api.h"

#define MAX_TENSORS 16
#define MAX_DIMS 8

typedef struct {
  const char *name;
  const char *file;
  TF_Output output;
  TF_Tensor *value;
} Arg;

static int fail(const char *what, const char *detail) {
  fprintf(stderr, "%s: %s\n", what, detail);
  return 1;
}

static TF_Output graph_tensor(TF_Graph *graph, const char *name) {
  char op[512];
  const char *colon = strrchr(name, ':');
  size_t len = colon ? (size_t)(colon - name) : strlen(name);
  TF_Output out = {NULL, 0};
  if (len >= sizeof(op)) return out;
  memcpy(op, name, len);
  op[len] = '\0';
  out.oper = TF_GraphOperationByName(graph, op);
  out.index = colon ? atoi(colon + 1) : 0;
  return out;
}

/* A tensor of type DTYPE and sizes DIMS holding the bytes of FILE; NULL when an argument is
 * malformed, the type has no fixed size or the file does not hold exactly the tensor's bytes. */
static TF_Tensor *read_tensor(const char *dtype_arg, const char *dims_arg, const char *path) {
  char *end;
  long dtype = strtol(dtype_arg, &end, 10);
  size_t nbytes = (*end || end == dtype_arg || dtype <= 0) ? 0 : TF_DataTypeSize((TF_DataType)dtype);
  if (nbytes == 0) return NULL;
  int64_t dims[MAX_DIMS];
  int num_dims = 0;
  if (strcmp(dims_arg, "scalar") != 0) {
    for (const char *p = dims_arg;; p = end + 1) {
      long long size = strtoll(p, &end, 10);
      if (end == p || size < 0 || num_dims == MAX_DIMS) return NULL;
      dims[num_dims++] = size;
      nbytes *= (size_t)size;
      if (*end == '\0') break;
      if (*end != ',') return NULL;
    }
  }
  TF_Tensor *tensor = TF_AllocateTensor((TF_DataType)dtype, dims, num_dims, nbytes);
  FILE *f = fopen(path, "rb");
  int ok = tensor && f && fread(TF_TensorData(tensor), 1, nbytes, f) == nbytes && fgetc(f) == EOF;
  if (f) fclose(f);
  if (!ok && tensor) TF_DeleteTensor(tensor);
  return ok ? tensor : NULL;
}

static int usage(const char *program) {
  fprintf(stderr, "usage: %s EXPORT_DIR TAG [feed TENSOR DTYPE DIMS FILE]... [fetch TENSOR FILE]... "
          "(feeds first, at most %d of each, at least one fetch)\n", program, MAX_TENSORS);
  return 2;
}

int main(int argc, char **argv) {
  Arg feeds[MAX_TENSORS], fetches[MAX_TENSORS];
  int num_feeds = 0, num_fetches = 0;
  if (argc < 3) return usage(argv[0]);
  for (int i = 3; i < argc; ++i) {
    if (strcmp(argv[i], "feed") == 0 && i + 4 < argc && num_fetches == 0 && num_feeds < MAX_TENSORS) {
      Arg *feed = &feeds[num_feeds++];
      feed->name = argv[i + 1];
      feed->file = argv[i + 4];
      feed->value = read_tensor(argv[i + 2], argv[i + 3], feed->file);
      if (!feed->value) return fail("cannot read the feed", feed->name);
      i += 4;
    } else if (strcmp(argv[i], "fetch") == 0 && i + 2 < argc && num_fetches < MAX_TENSORS) {
      Arg *fetch = &fetches[num_fetches++];
      fetch->name = argv[i + 1];
      fetch->file = argv[i + 2];
      i += 2;
    } else {
      return usage(argv[0]);
    }
  }
  if (num_fetches == 0) return usage(argv[0]);

  TF_Status *status = TF_NewStatus();
  TF_Graph *graph = TF_NewGraph();
  TF_SessionOptions *options = TF_NewSessionOptions();
  TF_Buffer *meta_graph = TF_NewBuffer();
  const char *tags[] = {argv[2]};
  TF_Session *session = TF_LoadSessionFromSavedModel(options, NULL, argv[1], tags, 1, graph, meta_graph, status);
  if (TF_GetCode(status) != TF_OK) return fail("TF_LoadSessionFromSavedModel", TF_Message(status));

  TF_Output inputs[MAX_TENSORS], outputs[MAX_TENSORS];
  TF_Tensor *values[MAX_TENSORS], *results[MAX_TENSORS];
  for (int i = 0; i < num_feeds; ++i) {
    inputs[i] = graph_tensor(graph, feeds[i].name);
    values[i] = feeds[i].value;
    if (!inputs[i].oper) return fail("not a tensor of the graph", feeds[i].name);
  }
  for (int i = 0; i < num_fetches; ++i) {
    outputs[i] = graph_tensor(graph, fetches[i].name);
    if (!outputs[i].oper) return fail("not a tensor of the graph", fetches[i].name);
  }
  TF_SessionRun(session, NULL, inputs, values, num_feeds, outputs, results, num_fetches, NULL, 0, NULL, status);
  if (TF_GetCode(status) != TF_OK) return fail("TF_SessionRun", TF_Message(status));

  for (int i = 0; i < num_fetches; ++i) {
    TF_Tensor *result = results[i];
    if (TF_DataTypeSize(TF_TensorType(result)) == 0) return fail("not a fixed-size type", fetches[i].name);
    printf("%d", (int)TF_TensorType(result));
    for (int d = 0; d < TF_NumDims(result); ++d) printf(" %lld", (long long)TF_Dim(result, d));
    printf("\n");
    FILE *f = fopen(fetches[i].file, "wb");
    size_t nbytes = TF_TensorByteSize(result);
    int ok = f && fwrite(TF_TensorData(result), 1, nbytes, f) == nbytes;
    if (!f || fclose(f) != 0 || !ok) return fail("cannot write the fetch", fetches[i].name);
    TF_DeleteTensor(result);
  }

  for (int i = 0; i < num_feeds; ++i) TF_DeleteTensor(values[i]);
  TF_CloseSession(session, status);
  TF_DeleteSession(session, status);
  TF_DeleteBuffer(meta_graph);
  TF_DeleteSessionOptions(options);
  TF_DeleteGraph(graph);
  TF_DeleteStatus(status);
  return 0;
}
