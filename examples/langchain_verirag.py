"""verirag from LangChain: a retriever, a runnable that answers with its verdict, and the verifier closing a
chain of stock LangChain parts (here a stand-in chat model that answers with a wrong number).

    make demo                              # once: the collection "demo" from samples/
    python examples/langchain_verirag.py   # in this process; VERIRAG_URL/VERIRAG_API_KEY: a `verirag serve`
"""

import os

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from integrations.backend import connect
from integrations.langchain import VeriragAnswer, VeriragRetriever, VeriragVerifier

QUESTION = "At what speed does Unit 3 trip on overspeed?"
verirag = connect(os.environ.get("VERIRAG_URL"), os.environ.get("VERIRAG_API_KEY"))
retriever = VeriragRetriever(collection="demo", top_k=4, backend=verirag)

for document in retriever.invoke(QUESTION):
    print(f"{document.metadata['score']:.4f}  {document.id}  {document.page_content[:60]!r}")

checked = VeriragAnswer(collection="demo", top_k=4, backend=verirag).invoke(QUESTION)
print(f"\n{checked['answer']}\nverdict: {checked['verdict']['label']}")

# Your own chain, any chat model: verirag checks its answer against the documents it was given.
prompt = ChatPromptTemplate.from_messages([("human", "Sources: {documents}\n\nQuestion: {question}")])
llm = FakeListChatModel(responses=["Unit 3 trips on overspeed at 312.5 rpm."])
chain = ({"documents": retriever, "question": RunnablePassthrough()}
         | RunnablePassthrough.assign(answer=prompt | llm)
         | VeriragVerifier(backend=verirag))
out = chain.invoke(QUESTION)
print(f"\nyour chain said: {out['answer'].content}\nverdict: {out['verdict']['label']}")
for warning in out["verdict"]["warnings"]:
    print(f"  ! {warning}")
verirag.close()
